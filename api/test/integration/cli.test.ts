import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, driver } from '../helpers/build-app.js';

const CLI = resolve(__dirname, '../../src/cli/index.ts');

/** Runs the real CLI (npm run cli) against a database of its own. */
function cli(env: Record<string, string>, ...args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { PATH: process.env.PATH!, AGENT_ENV: 'testing', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

describe(`migration CLI: export → import round trip (${driver})`, () => {
  it('exports agents, imports them into an empty database idempotently, with dry run and clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentvm-cli-'));
    const source = driver === 'postgres' ? await createTestDatabase() : null;
    const target = driver === 'postgres' ? await createTestDatabase() : null;
    const envFor = (db: { url: string } | null, name: string): Record<string, string> =>
      db ? { DATABASE_URL: db.url } : { AGENTVM_DATA_DIR: join(dir, name) };
    try {
      // Seed the source through the real app.
      const { buildTestApp } = await import('../helpers/build-app.js');
      const seed = await buildTestApp(source ? { databaseUrl: source.url } : { config: { database: { data_dir: join(dir, 'source') } } });
      const created = [];
      for (const [i, type] of ['aider', 'claude', 'remote'].entries()) {
        created.push(
          (
            await seed.request({
              method: 'POST',
              url: '/agents/create',
              body: { agent_type: type, game_id: 'office', name: `npc-${i}`, personality: 'perfectionist', metadata: { desk: i } },
            })
          ).json(),
        );
      }
      await seed.app.close();

      const file = join(dir, 'agents.json');
      const exported = cli(envFor(source, 'source'), 'export', '--out', file);
      expect(exported.err).toBe('');
      expect(exported.out).toMatch(/exported 3 agents/);
      const doc = JSON.parse(readFileSync(file, 'utf8'));
      expect(doc.agents.map((a: { name: string }) => a.name)).toEqual(['npc-0', 'npc-1', 'npc-2']);
      expect(Object.keys(doc.agent_types)).toEqual(expect.arrayContaining(['aider', 'opencode', 'claude', 'custom']));

      const dry = cli(envFor(target, 'target'), 'import', '--file', file, '--dry-run');
      expect(dry.out).toMatch(/dry run: 3 to create, 0 to update, 0 unchanged; nothing written/);
      const first = cli(envFor(target, 'target'), 'import', '--file', file);
      expect(first.out).toMatch(/imported: 3 to create, 0 to update, 0 unchanged/);
      const again = cli(envFor(target, 'target'), 'import', '--file', file);
      expect(again.out).toMatch(/imported: 0 to create, 0 to update, 3 unchanged/);

      const check = await buildTestApp(target ? { databaseUrl: target.url } : { config: { database: { data_dir: join(dir, 'target') } } });
      const agents = (await check.request({ method: 'GET', url: '/agents?game_id=office' })).json().items;
      expect(agents.map((a: { id: string; personality: string; metadata: unknown }) => [a.id, a.personality, a.metadata])).toEqual(
        created.map((a) => [a.id, 'perfectionist', a.metadata]),
      );
      await check.app.close();

      doc.agents[1].agent_type = 'gpt';
      writeFileSync(file, JSON.stringify(doc));
      const bad = cli(envFor(target, 'target'), 'import', '--file', file);
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/agents\.1\.agent_type: "gpt" is not configured here/);
      doc.agents[1].agent_type = 'claude';
      doc.agents[0].id = 'nope';
      writeFileSync(file, JSON.stringify(doc));
      expect(cli(envFor(target, 'target'), 'import', '--file', file).err).toMatch(/agents\.0\.id: must be a UUID/);
      expect(cli({}, 'teleport').code).toBe(2);
    } finally {
      await source?.drop();
      await target?.drop();
    }
  }, 120_000);
});
