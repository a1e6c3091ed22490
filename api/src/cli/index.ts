import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { asc, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { ConfigError, loadConfig, formatIssues } from '../config/load.js';
import { PERSONALITY_NAMES } from '../contract/agents.js';
import { metadata, position } from '../contract/common.js';
import { openDatabase } from '../db/client.js';
import { agents, games } from '../db/schema.js';
import { memoryBus } from '../infra/bus.js';
import { toAgentDto } from '../modules/agents/agents.mapper.js';
import { withEvents } from '../modules/events/outbox.js';

/**
 * `npm run cli -- export --out agents.json` / `import --file agents.json [--dry-run]`:
 * moves agent types, personalities, agents and their metadata between deployments (e.g. from a
 * first installation to a new one). Import is idempotent: agents are matched by id.
 */
const USAGE = `usage:
  npm run cli -- export --out <file>            write agent types and agents as JSON
  npm run cli -- import --file <file> [--dry-run]  create or update agents from such a file`;

const exportedAgent = z
  .object({
    id: z.uuid({ message: 'must be a UUID' }),
    name: z.string().min(1).max(64),
    agent_type: z.string().min(1).max(32),
    personality: z.enum(PERSONALITY_NAMES),
    capabilities: z.array(z.string().min(1).max(64)).max(32),
    game_id: z.string().min(1).max(128).nullable(),
    scene_id: z.string().min(1).max(128).nullable(),
    position,
    rotation_y: z.number(),
    metadata,
  })
  .strip();

const exportFile = z.object({
  format: z.literal('agentvm-export/1'),
  exported_at: z.string(),
  agent_types: z.record(
    z.string(),
    z.object({ runtime: z.string(), capabilities: z.array(z.string()), default_personality: z.string() }).strip(),
  ),
  agents: z.array(exportedAgent),
});

function progress(label: string, done: number, total: number): void {
  if (!process.stderr.isTTY) {
    if (done === total || done % 500 === 0) process.stderr.write(`${label}: ${done}/${total}\n`);
    return;
  }
  const width = 30;
  const filled = total ? Math.round((done / total) * width) : width;
  process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${done === total ? '\n' : ''}`);
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      file: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(command ? 0 : 2);
  }
  const config = loadConfig();
  if (command === 'export') {
    if (!values.out) throw new UsageError('export needs --out <file>');
    const database = await openDatabase({
      url: config.database.url,
      poolSize: 2,
      dataDir: config.database.data_dir,
      statementTimeoutMs: 600_000,
    });
    try {
      if (config.database.migrate_on_boot) await database.migrate();
      const rows = await database.db.select().from(agents).orderBy(asc(agents.id));
      const doc = {
        format: 'agentvm-export/1' as const,
        exported_at: new Date().toISOString(),
        agent_types: Object.fromEntries(
          Object.entries(config.agent_types).map(([name, t]) => [
            name,
            { runtime: t.runtime, capabilities: t.capabilities, default_personality: t.default_personality },
          ]),
        ),
        agents: rows.map((r) => {
          const a = toAgentDto(r);
          return {
            id: a.id,
            name: a.name,
            agent_type: a.agent_type,
            personality: a.personality,
            capabilities: a.capabilities,
            game_id: a.game_id,
            scene_id: a.scene_id,
            position: a.position,
            rotation_y: a.rotation_y,
            metadata: a.metadata,
          };
        }),
      };
      writeFileSync(values.out, `${JSON.stringify(doc, null, 2)}\n`);
      process.stdout.write(
        `exported ${doc.agents.length} agents and ${Object.keys(doc.agent_types).length} agent types to ${values.out}\n`,
      );
    } finally {
      await database.close();
    }
    return;
  }
  if (command === 'import') {
    if (!values.file) throw new UsageError('import needs --file <file>');
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(values.file, 'utf8'));
    } catch (err) {
      throw new UsageError(`${values.file}: cannot read JSON (${(err as Error).message})`);
    }
    const parsed = exportFile.safeParse(raw);
    if (!parsed.success) throw new UsageError(formatIssues(parsed.error.issues, values.file));
    const doc = parsed.data;
    const unknownTypes = doc.agents.map((a, i) => [i, a.agent_type] as const).filter(([, t]) => !(t in config.agent_types));
    if (unknownTypes.length) {
      const [i, t] = unknownTypes[0]!;
      throw new UsageError(
        `agents.${i}.agent_type: "${t}" is not configured here (configured: ${Object.keys(config.agent_types).join(', ')}); add it to configs/${config.env}.yaml first`,
      );
    }
    const database = await openDatabase({
      url: config.database.url,
      poolSize: 2,
      dataDir: config.database.data_dir,
      statementTimeoutMs: 600_000,
    });
    try {
      if (config.database.migrate_on_boot) await database.migrate();
      const existing = new Map(
        (doc.agents.length
          ? await database.db
              .select()
              .from(agents)
              .where(
                inArray(
                  agents.id,
                  doc.agents.map((a) => a.id),
                ),
              )
          : []
        ).map((r) => [r.id, r]),
      );
      const plan = doc.agents.map((a) => {
        const row = existing.get(a.id);
        if (!row) return { agent: a, action: 'create' as const };
        const same =
          row.name === a.name &&
          row.agentType === a.agent_type &&
          row.personality === a.personality &&
          row.gameId === a.game_id &&
          row.sceneId === a.scene_id &&
          JSON.stringify(row.capabilities) === JSON.stringify(a.capabilities) &&
          JSON.stringify(row.metadata) === JSON.stringify(a.metadata);
        return { agent: a, action: same ? ('unchanged' as const) : ('update' as const) };
      });
      const count = (action: string) => plan.filter((p) => p.action === action).length;
      const summary = `${count('create')} to create, ${count('update')} to update, ${count('unchanged')} unchanged`;
      if (values['dry-run']) {
        for (const p of plan)
          if (p.action !== 'unchanged')
            process.stdout.write(
              `${p.action} ${p.agent.id} ${p.agent.name} (${p.agent.agent_type}${p.agent.game_id ? `, game ${p.agent.game_id}` : ''})\n`,
            );
        process.stdout.write(`dry run: ${summary}; nothing written\n`);
        return;
      }
      if (count('create') + existing.size > config.system.max_agents) {
        throw new UsageError(`importing would exceed system.max_agents (${config.system.max_agents}); raise it first`);
      }
      const outbox = { db: database.db, bus: memoryBus() };
      let done = 0;
      for (const p of plan) {
        if (p.action !== 'unchanged') {
          const a = p.agent;
          const type = config.agent_types[a.agent_type]!;
          await withEvents(outbox, null, async (tx, emit) => {
            if (a.game_id) await tx.insert(games).values({ gameId: a.game_id }).onConflictDoNothing();
            const values = {
              name: a.name,
              agentType: a.agent_type,
              personality: a.personality,
              capabilities: a.capabilities,
              gameId: a.game_id,
              sceneId: a.scene_id,
              x: a.position.x,
              y: a.position.y,
              z: a.position.z,
              rotationY: a.rotation_y,
              metadata: a.metadata,
            };
            if (p.action === 'create') {
              const [row] = await tx
                .insert(agents)
                .values({ id: a.id, status: type.runtime === 'external' ? 'offline' : 'idle', ...values })
                .returning();
              emit({ type: 'agent.created', gameId: a.game_id, agentId: a.id, data: { agent: toAgentDto(row!) } });
            } else {
              const [row] = await tx
                .update(agents)
                .set({ ...values, updatedAt: new Date() })
                .where(eq(agents.id, a.id))
                .returning();
              emit({
                type: 'agent.updated',
                gameId: a.game_id,
                agentId: a.id,
                data: { agent: toAgentDto(row!), changed: Object.keys(values) },
              });
            }
          });
        }
        progress('importing', ++done, plan.length);
      }
      process.stdout.write(`imported: ${summary}\n`);
    } finally {
      await database.close();
    }
    return;
  }
  throw new UsageError(`unknown command "${command}"\n${USAGE}`);
}

class UsageError extends Error {}

main().catch((err: unknown) => {
  const known = err instanceof UsageError || err instanceof ConfigError;
  process.stderr.write(`agentvm: ${known ? (err as Error).message : ((err as Error).stack ?? String(err))}\n`);
  process.exit(known ? 2 : 1);
});
