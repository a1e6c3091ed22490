import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, ENVIRONMENTS, type Config, type Environment } from './schema.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The repository's configs/ folder, found relative to this file in src/ and in dist/src/. */
export function defaultConfigDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'configs');
    if (existsSync(join(candidate, 'development.yaml'))) return candidate;
    dir = dirname(dir);
  }
  return resolve('configs');
}

type Env = Record<string, string | undefined>;

/**
 * Environment variables that override the file. Each maps to one config path; values are
 * converted to the path's type here so a bad value is reported with the variable's name.
 */
const ENV_OVERRIDES: ReadonlyArray<{ name: string; path: string[]; kind: 'string' | 'int' | 'bool' }> = [
  { name: 'DATABASE_URL', path: ['database', 'url'], kind: 'string' },
  { name: 'REDIS_URL', path: ['redis', 'url'], kind: 'string' },
  { name: 'PORT', path: ['http', 'port'], kind: 'int' },
  { name: 'HOST', path: ['http', 'host'], kind: 'string' },
  { name: 'AGENTVM_API_KEY', path: ['agentvm', 'api_key'], kind: 'string' },
  { name: 'LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
  { name: 'AGENTVM_DATA_DIR', path: ['database', 'data_dir'], kind: 'string' },
  { name: 'AGENTVM_WORKER_EMBEDDED', path: ['worker', 'embedded'], kind: 'bool' },
  { name: 'AGENTVM_MIGRATE_ON_BOOT', path: ['database', 'migrate_on_boot'], kind: 'bool' },
  { name: 'AGENTVM_REDIS_PREFIX', path: ['redis', 'key_prefix'], kind: 'string' },
  { name: 'AGENTVM_DB_POOL_SIZE', path: ['database', 'pool_size'], kind: 'int' },
];

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) {
      throw new ConfigError(`${path.join('.')}: cannot override, ${key} is not a section`);
    }
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function convert(name: string, raw: string, kind: 'string' | 'int' | 'bool'): unknown {
  if (kind === 'string') return raw;
  if (kind === 'int') {
    if (!/^\d+$/.test(raw)) throw new ConfigError(`${name}: expected a whole number, got "${raw}"`);
    return Number(raw);
  }
  if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name}: expected true or false, got "${raw}"`);
}

export function formatIssues(issues: z.core.$ZodIssue[], source: string): string {
  const lines = issues.map((issue) => {
    const key = issue.path.length ? issue.path.join('.') : '(root)';
    return `  - ${key}: ${issue.message}`;
  });
  return `invalid configuration (${source}):\n${lines.join('\n')}`;
}

export interface LoadOptions {
  env?: Env;
  configDir?: string;
  /** Deep-merged over the file before env overrides (tests). */
  overrides?: Record<string, unknown>;
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    if (value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)) {
      out[key] = deepMerge(current as Record<string, unknown>, value as Record<string, unknown>);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Reads configs/<AGENT_ENV>.yaml, applies environment overrides and validates. Throws ConfigError. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const envName = (env.AGENT_ENV ?? 'development') as Environment;
  if (!ENVIRONMENTS.includes(envName)) {
    throw new ConfigError(`AGENT_ENV: must be one of ${ENVIRONMENTS.join(', ')}, got "${envName}"`);
  }
  const configDir = options.configDir ?? env.AGENTVM_CONFIG_DIR ?? defaultConfigDir();
  const file = join(configDir, `${envName}.yaml`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`cannot read ${file}: set AGENTVM_CONFIG_DIR to the folder holding ${envName}.yaml`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${file}: the top level must be a mapping of keys`);
  }
  let doc = { ...(raw as Record<string, unknown>), env: envName };
  if (options.overrides) doc = deepMerge(doc, options.overrides) as typeof doc;
  for (const { name, path, kind } of ENV_OVERRIDES) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(doc, path, convert(name, value, kind));
  }
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error.issues, file));
  return parsed.data;
}

export type { Config };
