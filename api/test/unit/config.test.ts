import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, defaultConfigDir, loadConfig } from '../../src/config/load.js';

const PROD_ENV = {
  AGENT_ENV: 'production',
  DATABASE_URL: 'postgres://db/agentvm',
  REDIS_URL: 'redis://cache:6379',
  AGENTVM_API_KEY: 'a-production-secret-of-enough-length',
};

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function configDirWith(file: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentvm-config-'));
  made.push(dir);
  writeFileSync(join(dir, file), text);
  return dir;
}

describe('configuration', () => {
  it('loads every shipped environment with the seed keys and the original agent types', () => {
    for (const env of ['development', 'testing']) {
      const config = loadConfig({ env: { AGENT_ENV: env } });
      expect(config.env).toBe(env);
      expect(config.agentvm.api_key).toBe('development-key');
      expect(config.http.port).toBe(env === 'development' ? 8000 : 0);
    }
    for (const env of ['staging', 'production']) {
      const config = loadConfig({ env: { ...PROD_ENV, AGENT_ENV: env } });
      expect(config.database.migrate_on_boot).toBe(false);
      expect(config.database.url).toBe(PROD_ENV.DATABASE_URL);
    }
    for (const env of ['development', 'testing', 'staging', 'production']) {
      const config = loadConfig({ env: { ...PROD_ENV, AGENT_ENV: env } });
      expect(Object.keys(config.agent_types)).toEqual(expect.arrayContaining(['aider', 'opencode', 'claude', 'custom']));
      expect(config.api.endpoint).toMatch(/^http/);
      expect(config.api.retry_attempts).toBeGreaterThanOrEqual(0);
      expect(typeof config.system.auto_spawn).toBe('boolean');
    }
  });

  it('defaults to development and maps aider to the simulated runtime there', () => {
    const config = loadConfig({ env: {} });
    expect(config.env).toBe('development');
    expect(config.agent_types.aider?.runtime).toBe('simulated');
    expect(config.database.url).toBeNull();
  });

  it('applies environment overrides with their types', () => {
    const config = loadConfig({
      env: {
        PORT: '9001',
        HOST: '0.0.0.0',
        LOG_LEVEL: 'debug',
        AGENTVM_WORKER_EMBEDDED: 'false',
        DATABASE_URL: 'postgres://x/y',
        AGENTVM_DB_POOL_SIZE: '32',
      },
    });
    expect(config.http.port).toBe(9001);
    expect(config.http.host).toBe('0.0.0.0');
    expect(config.log.level).toBe('debug');
    expect(config.worker.embedded).toBe(false);
    expect(config.database.url).toBe('postgres://x/y');
    expect(config.database.pool_size).toBe(32);
  });

  it('names the variable when an override has the wrong type', () => {
    expect(() => loadConfig({ env: { PORT: 'eighty' } })).toThrow(/PORT: expected a whole number/);
    expect(() => loadConfig({ env: { AGENTVM_WORKER_EMBEDDED: 'maybe' } })).toThrow(/AGENTVM_WORKER_EMBEDDED: expected true or false/);
    expect(() => loadConfig({ env: { LOG_LEVEL: 'loud' } })).toThrow(/log\.level/);
    expect(() => loadConfig({ env: { AGENTVM_DB_POOL_SIZE: '0' } })).toThrow(/database\.pool_size/);
    expect(() => loadConfig({ env: { AGENT_ENV: 'prod' } })).toThrow(/AGENT_ENV: must be one of/);
  });

  it('production refuses to start without Postgres, Redis and a real key, naming each', () => {
    let message = '';
    try {
      loadConfig({ env: { AGENT_ENV: 'production' } });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/database\.url: production requires DATABASE_URL/);
    expect(message).toMatch(/redis\.url: production requires REDIS_URL/);
    expect(message).toMatch(/agentvm\.api_key: production requires AGENTVM_API_KEY/);
    expect(() => loadConfig({ env: { ...PROD_ENV, AGENTVM_API_KEY: 'development-key' } })).toThrow(/agentvm\.api_key/);
  });

  it('rejects unknown keys, bad runtimes and an unknown default type, naming the key', () => {
    const base = readFileSync(join(defaultConfigDir(), 'testing.yaml'), 'utf8');
    const typo = configDirWith('testing.yaml', `${base}\nsystem_typo: 1\n`);
    expect(() => loadConfig({ env: { AGENT_ENV: 'testing' }, configDir: typo })).toThrow(/system_typo/);
    const badRuntime = configDirWith('testing.yaml', base.replace('runtime: external', 'runtime: teleport'));
    expect(() => loadConfig({ env: { AGENT_ENV: 'testing' }, configDir: badRuntime })).toThrow(/agent_types\.remote\.runtime/);
    const badDefault = configDirWith('testing.yaml', base.replace('default_agent_type: aider', 'default_agent_type: nope'));
    expect(() => loadConfig({ env: { AGENT_ENV: 'testing' }, configDir: badDefault })).toThrow(
      /system\.default_agent_type: "nope" is not one of agent_types/,
    );
    const badYaml = configDirWith('testing.yaml', 'http: [unclosed');
    expect(() => loadConfig({ env: { AGENT_ENV: 'testing' }, configDir: badYaml })).toThrow(/not valid YAML/);
  });

  it('a bad configuration stops the server process with a non-zero exit and a clear message', () => {
    const server = resolve(__dirname, '../../src/server.ts');
    const result = spawnSync(process.execPath, ['--import', 'tsx', server], {
      env: { PATH: process.env.PATH, AGENT_ENV: 'production' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/invalid configuration/);
    expect(result.stderr).toMatch(/database\.url: production requires DATABASE_URL/);
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack trace
  });
});
