import { z } from 'zod';

/**
 * The whole configuration is this one schema. `configs/<env>.yaml` is parsed into it once at
 * boot (after environment variables are applied), and everything after that is typed.
 * Unknown keys are rejected so a typo in a YAML file stops the process instead of being ignored.
 */

export const ENVIRONMENTS = ['development', 'staging', 'production', 'testing'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export const PERSONALITIES = ['ambitious', 'team_player', 'steady', 'perfectionist', 'slacker'] as const;

const seconds = z.number().positive();
const argvTemplate = z
  .array(z.string().min(1))
  .min(1)
  .describe('argv: the program and its arguments; {placeholders} are substituted as whole arguments');

const agentTypeCommon = {
  description: z.string().default(''),
  capabilities: z.array(z.string().min(1).max(64)).default([]),
  /** How many tasks one agent of this type may hold at once. */
  max_concurrency: z.number().int().min(1).max(64).default(1),
  default_personality: z.enum(PERSONALITIES).default('steady'),
};

const simulatedRuntime = z
  .object({
    ...agentTypeCommon,
    runtime: z.literal('simulated'),
    /** Multiplies how long simulated work takes: 0.01 makes tests fast, 1 looks natural in a demo. */
    speed: z.number().positive().max(1000).default(1),
    /** Added to the personality's own failure rate (0..1). */
    failure_rate: z.number().min(0).max(1).default(0),
    /** Personalities fail now and then (a slacker more than a perfectionist); off for deterministic tests. */
    personality_failures: z.boolean().default(true),
    /** Fixed seed for reproducible runs; null draws one per task. */
    seed: z.number().int().nullable().default(null),
  })
  .strict();

const commandRuntime = z
  .object({
    ...agentTypeCommon,
    runtime: z.literal('command'),
    argv: argvTemplate,
    /** Each agent gets `<workdir_root>/<agent_id>` as its working directory. */
    workdir_root: z.string().min(1).default('./data/workspaces'),
    timeout_s: seconds.max(86_400).default(600),
    /** Only these environment variables of the api process reach the child. */
    env_allow: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default(['PATH', 'HOME', 'LANG']),
    /** A failed run (non-zero exit) is retried when true. */
    retryable: z.boolean().default(false),
    /** `repo_path` from /agent/run is used as cwd only when it lies under one of these. */
    workspace_roots: z.array(z.string().min(1)).default([]),
    /** Regular expressions; each `extra_args` element must fully match one of them. */
    extra_args_allow: z.array(z.string().min(1)).default([]),
    /** stdout/stderr kept in the task result, per stream (the tail is kept). */
    max_output_bytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .default(64 * 1024),
  })
  .strict();

const externalRuntime = z
  .object({
    ...agentTypeCommon,
    runtime: z.literal('external'),
    /** An agent whose runtime has not claimed or heart-beaten for this long is marked offline. */
    heartbeat_timeout_s: seconds.max(3600).default(60),
  })
  .strict();

const agentvmRuntime = z
  .object({
    ...agentTypeCommon,
    runtime: z.literal('agentvm'),
    endpoints: z.array(z.url()).min(1),
    /** Name of the environment variable holding the VMs' X-API-Key (never the key itself). */
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('AGENTVM_VM_API_KEY'),
    /** The agent name the VM is asked to run (`agent` in /agent/run); defaults to the type name. */
    vm_agent: z.string().min(1).optional(),
    repo_path: z.string().min(1).default('/mnt/host-projects/current'),
    timeout_s: seconds.max(3600).default(600),
    /** Requests in flight per VM: the original AgentVM runs one command per request. */
    max_concurrency_per_vm: z.number().int().min(1).max(64).default(1),
    health_interval_s: seconds.max(3600).default(10),
  })
  .strict();

export const agentTypeSchema = z.discriminatedUnion('runtime', [simulatedRuntime, commandRuntime, externalRuntime, agentvmRuntime]);
export type AgentTypeConfig = z.infer<typeof agentTypeSchema>;
export type RuntimeName = AgentTypeConfig['runtime'];

export const configSchema = z
  .object({
    env: z.enum(ENVIRONMENTS),
    http: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8000),
        /** Origins allowed by CORS; `*` allows any. None by default. */
        cors_origins: z.array(z.string().min(1)).default([]),
        /** Largest request body accepted (bytes); larger gets 413. */
        body_limit_bytes: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(1024 * 1024),
        trust_proxy: z.boolean().default(false),
        /** /docs and /openapi.json without a key (the document holds no data, only the contract). */
        public_docs: z.boolean().default(true),
        /** Seconds to wait for in-flight requests on shutdown. */
        shutdown_grace_s: seconds.max(600).default(10),
      })
      .strict()
      .prefault({}),
    /** The seed's client-side keys: where clients (Godot plugin, CLI) find this service. */
    api: z
      .object({
        endpoint: z.url().default('http://localhost:8000'),
        timeout: seconds.max(3600).default(30),
        retry_attempts: z.number().int().min(0).max(20).default(3),
      })
      .strict()
      .prefault({}),
    agentvm: z
      .object({
        /** Bootstrap admin key, seeded (as a sha-256 hash) at boot. */
        api_key: z.string().min(8, 'must be at least 8 characters'),
      })
      .strict(),
    database: z
      .object({
        /** Postgres URL; null uses embedded PGlite under data_dir. */
        url: z.string().min(1).nullable().default(null),
        pool_size: z.number().int().min(1).max(200).default(10),
        /** PGlite data directory; `memory://` keeps it in memory (tests). */
        data_dir: z.string().min(1).default('./data/pglite'),
        migrate_on_boot: z.boolean().default(true),
        statement_timeout_ms: z.number().int().min(100).max(600_000).default(15_000),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        url: z.string().min(1).nullable().default(null),
        /** Prefix for every key and channel, so several deployments can share one Redis. */
        key_prefix: z.string().min(1).default('agentvm:'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        pretty: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    rate_limit: z
      .object({
        enabled: z.boolean().default(true),
        /** Requests per key (or per IP without a key) per minute. */
        per_minute: z.number().int().min(1).default(3000),
        /** Position updates are hot (a game sends ~10/s per agent): their own, larger budget. */
        positions_per_minute: z.number().int().min(1).default(60_000),
      })
      .strict()
      .prefault({}),
    system: z
      .object({
        max_agents: z.number().int().min(1).max(1_000_000).default(1000),
        auto_spawn: z.boolean().default(false),
        min_idle_agents: z.number().int().min(0).max(1000).default(0),
        default_agent_type: z.string().min(1).default('aider'),
      })
      .strict()
      .prefault({}),
    game: z
      .object({
        session_timeout_s: seconds.max(86_400).default(300),
      })
      .strict()
      .prefault({}),
    positions: z
      .object({
        /** Pending positions are written in one statement this often. */
        flush_interval_ms: z.number().int().min(5).max(10_000).default(100),
      })
      .strict()
      .prefault({}),
    events: z
      .object({
        retention_days: z.number().positive().max(3650).default(7),
        retention_max_events: z.number().int().min(1000).default(1_000_000),
        /** How often old events are pruned. */
        prune_interval_s: seconds.default(300),
      })
      .strict()
      .prefault({}),
    ws: z
      .object({
        max_payload_bytes: z
          .number()
          .int()
          .min(256)
          .max(1024 * 1024)
          .default(64 * 1024),
        ping_interval_s: seconds.max(600).default(30),
        /** A socket whose unsent data exceeds this is closed with 4008 (it can resume with since). */
        max_buffered_bytes: z
          .number()
          .int()
          .min(1024)
          .default(4 * 1024 * 1024),
        /** Events sent per replay page when a client resumes with since. */
        replay_batch: z.number().int().min(10).max(10_000).default(1000),
      })
      .strict()
      .prefault({}),
    worker: z
      .object({
        /** Run the task worker inside the api process. */
        embedded: z.boolean().default(true),
        poll_interval_ms: z.number().int().min(10).max(60_000).default(250),
        /** How many tasks one worker process runs at once. */
        concurrency: z.number().int().min(1).max(10_000).default(64),
      })
      .strict()
      .prefault({}),
    tasks: z
      .object({
        default_timeout_s: seconds.max(86_400).default(600),
        default_max_attempts: z.number().int().min(1).max(100).default(3),
        lease_s: seconds.max(3600).default(30),
        backoff_base_ms: z.number().int().min(0).max(3_600_000).default(1000),
        backoff_max_ms: z.number().int().min(0).max(86_400_000).default(60_000),
        reaper_interval_ms: z.number().int().min(50).max(600_000).default(1000),
      })
      .strict()
      .prefault({}),
    agent_types: z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'agent type names are lowercase, 1–32 chars'), agentTypeSchema),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (Object.keys(config.agent_types).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['agent_types'], message: 'at least one agent type is required' });
    }
    if (!(config.system.default_agent_type in config.agent_types)) {
      ctx.addIssue({
        code: 'custom',
        path: ['system', 'default_agent_type'],
        message: `"${config.system.default_agent_type}" is not one of agent_types (${Object.keys(config.agent_types).join(', ')})`,
      });
    }
    if (config.env === 'production') {
      if (!config.database.url) {
        ctx.addIssue({ code: 'custom', path: ['database', 'url'], message: 'production requires DATABASE_URL (Postgres)' });
      }
      if (!config.redis.url) {
        ctx.addIssue({ code: 'custom', path: ['redis', 'url'], message: 'production requires REDIS_URL' });
      }
      if (config.agentvm.api_key === DEVELOPMENT_KEY || config.agentvm.api_key.length < 24) {
        ctx.addIssue({
          code: 'custom',
          path: ['agentvm', 'api_key'],
          message: 'production requires AGENTVM_API_KEY: a secret of at least 24 characters, not the development key',
        });
      }
    }
  });

export const DEVELOPMENT_KEY = 'development-key';

export type Config = z.infer<typeof configSchema>;
