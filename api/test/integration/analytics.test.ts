import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createKey, driver, type TestApp } from '../helpers/build-app.js';
import { insertAgent } from '../helpers/fixtures.js';

describe(`analytics (${driver})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => t?.close());

  it('reports completed, failed, success rate and percentiles per agent and per type, in SQL', async () => {
    const runtimeKey = await createKey(t, ['runtime']);
    const agents = await Promise.all(
      [0, 1].map(() => insertAgent(t.app, { gameId: 'stats', agentType: 'remote', capabilities: ['code'], lastSeenAt: new Date() })),
    );
    // agent 0: 3 completed, 1 failed; agent 1: 1 completed
    const plan: Array<[number, 'complete' | 'fail']> = [
      [0, 'complete'],
      [0, 'complete'],
      [0, 'fail'],
      [0, 'complete'],
      [1, 'complete'],
    ];
    for (const [i, outcome] of plan) {
      const agent = agents[i]!;
      await t.request({ method: 'POST', url: '/tasks/assign', body: { description: 'work', agent_id: agent.id, max_attempts: 1 } });
      const claim = (await t.request({ method: 'POST', url: '/runtime/claim', key: runtimeKey, body: { agent_id: agent.id } })).json();
      await t.request({
        method: 'POST',
        url: `/runtime/tasks/${claim.task.id}/${outcome}`,
        key: runtimeKey,
        body: outcome === 'fail' ? { lease_token: claim.lease.token, error: 'x' } : { lease_token: claim.lease.token },
      });
    }
    const res = await t.request({ method: 'GET', url: '/analytics/agents?game_id=stats' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const byId = new Map(body.items.map((r: { agent_id: string }) => [r.agent_id, r]));
    expect(byId.get(agents[0]!.id)).toMatchObject({ completed: 3, failed: 1, success_rate: 0.75, agent_type: 'remote' });
    expect(byId.get(agents[1]!.id)).toMatchObject({ completed: 1, failed: 0, success_rate: 1 });
    const row = byId.get(agents[0]!.id) as Record<string, number>;
    expect(row.duration_p50_s).toBeGreaterThanOrEqual(0);
    expect(row.duration_p95_s).toBeGreaterThanOrEqual(row.duration_p50_s!);
    expect(row.queue_wait_p50_s).toBeGreaterThanOrEqual(0);
    expect(body.by_type).toEqual([
      expect.objectContaining({ agent_type: 'remote', agents: 2, completed: 4, failed: 1, success_rate: 0.8 }),
    ]);

    const paged = (await t.request({ method: 'GET', url: '/analytics/agents?game_id=stats&limit=1' })).json();
    expect(paged.items).toHaveLength(1);
    const next = (await t.request({ method: 'GET', url: `/analytics/agents?game_id=stats&limit=1&cursor=${paged.next_cursor}` })).json();
    expect(next.items).toHaveLength(1);
    expect(next.items[0].agent_id).not.toBe(paged.items[0].agent_id);
    expect(next.next_cursor).toBeNull();

    const future = (
      await t.request({ method: 'GET', url: `/analytics/agents?game_id=stats&since=${new Date(Date.now() + 60_000).toISOString()}` })
    ).json();
    expect(future.items).toEqual([]);
    expect((await t.request({ method: 'GET', url: '/analytics/agents?since=yesterday' })).json().error.message).toMatch(/^since:/);
    const otherGame = await createKey(t, ['game'], 'elsewhere');
    expect((await t.request({ method: 'GET', url: '/analytics/agents?game_id=stats', key: otherGame })).json().items).toEqual([]);
  });
});
