import { describe, expect, it, vi } from 'vitest';
import { agentTypeSchema } from '../../src/config/schema.js';
import type { ProgressReport, RuntimeTask } from '../../src/modules/runtimes/runtime.js';
import { PERSONALITIES, createSimulatedRuntime, planRun, seededRandom } from '../../src/modules/runtimes/simulated.js';

const config = (over: Record<string, unknown> = {}) => {
  const parsed = agentTypeSchema.parse({ runtime: 'simulated', speed: 0.005, seed: 7, ...over });
  if (parsed.runtime !== 'simulated') throw new Error('unreachable');
  return parsed;
};
const task = (over: Partial<RuntimeTask> = {}): RuntimeTask => ({
  id: '01900000-0000-7000-8000-000000000001',
  description: 'Fix the player movement bug',
  taskType: 'debugging',
  agentId: 'a',
  agentName: 'Ada',
  agentType: 'aider',
  personality: 'steady',
  gameId: null,
  attempt: 1,
  timeoutS: 600,
  collaborative: false,
  metadata: {},
  ...over,
});
const idOf = (i: number) => `01900000-0000-7000-8000-${String(i).padStart(12, '0')}`;
const plan = (over: Partial<RuntimeTask> = {}, cfg = config(), seed = 1) => {
  const t = task(over);
  return planRun(t, cfg, seededRandom(seed, t.id, t.attempt));
};
const share = (p: ReturnType<typeof plan>, ...activities: string[]) =>
  p.steps.filter((s) => !s.pause && activities.includes(s.activity)).reduce((n, s) => n + s.ms, 0) /
  p.steps.filter((s) => !s.pause).reduce((n, s) => n + s.ms, 0);
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const PERSONALITY_NAMES = Object.keys(PERSONALITIES);

async function run(t: RuntimeTask, cfg = config(), signal = new AbortController().signal) {
  const reports: ProgressReport[] = [];
  const outcome = await createSimulatedRuntime(cfg).run(t, { signal, report: (r) => reports.push(r) });
  return { outcome, reports };
}

describe('simulated runtime', () => {
  it('is reproducible: same seed, task and attempt give the same trace and outcome', async () => {
    for (const personality of PERSONALITY_NAMES) {
      const a = await run(task({ personality }));
      const b = await run(task({ personality }));
      expect(a.reports, personality).toEqual(b.reports);
      expect(a.outcome.ok).toBe(b.outcome.ok);
      if (!a.outcome.ok && !b.outcome.ok) expect(a.outcome.error).toEqual(b.outcome.error);
    }
    expect(plan({ attempt: 2 }).totalMs).not.toBe(plan().totalMs); // a retry is a new draw, not a replay
    expect(plan({ id: idOf(99) }).totalMs).not.toBe(plan().totalMs); // another task, another draw
    expect(plan({}, config(), 8).totalMs).not.toBe(plan().totalMs); // another seed, another draw
    // Without a seed, every run draws afresh.
    const unseeded = config({ seed: null });
    const t = task();
    expect(planRun(t, unseeded, seededRandom(null, t.id, 1)).totalMs).not.toBe(planRun(t, unseeded, seededRandom(null, t.id, 1)).totalMs);
  });

  it('reports progress rising to 1 through thinking → coding → testing → reviewing, and a result for the bubble', async () => {
    const { outcome, reports } = await run(task(), config({ personality_failures: false }));
    expect(outcome.ok).toBe(true);
    const progress = reports.map((r) => r.progress).filter((p): p is number => p !== undefined);
    expect(progress.at(-1)).toBe(1);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    const activities = [...new Set(reports.map((r) => r.activity).filter(Boolean))];
    expect(activities).toEqual(['thinking', 'coding', 'testing', 'reviewing']);
    expect(reports.every((r) => r.activity === undefined || typeof r.activityDetail === 'string')).toBe(true);
    expect(outcome).toMatchObject({
      ok: true,
      result: { personality: 'steady', summary: 'Ada finished "Fix the player movement bug"', steps: expect.any(Number) },
    });
    if (outcome.ok) expect((outcome.result as { duration_ms: number }).duration_ms).toBeGreaterThanOrEqual(0);
  });

  it('personalities differ in duration and in where the time goes', () => {
    const avgTotal = (personality: string) => mean(Array.from({ length: 200 }, (_, i) => plan({ id: idOf(i), personality }).totalMs));
    const totals = Object.fromEntries(PERSONALITY_NAMES.map((p) => [p, avgTotal(p)]));
    expect(totals.ambitious).toBeLessThan(totals.steady!);
    expect(totals.steady).toBeLessThan(totals.perfectionist!);
    expect(totals.steady).toBeLessThan(totals.slacker!);
    // Roughly BASE 8 s × pace × speed: the mean of 200 draws lands near it.
    expect(totals.steady! / (8000 * 0.005)).toBeGreaterThan(0.9);
    expect(totals.steady! / (8000 * 0.005)).toBeLessThan(1.1);

    // The perfectionist tests and reviews much more than the ambitious one.
    const avgShare = (personality: string) =>
      mean(Array.from({ length: 100 }, (_, i) => share(plan({ id: idOf(i), personality }), 'testing', 'reviewing')));
    expect(avgShare('perfectionist')).toBeGreaterThan(0.45);
    expect(avgShare('ambitious')).toBeLessThan(0.35);
  });

  it('the slacker pauses (waiting, no progress) and then works in bursts; others never wait', () => {
    const slacker = plan({ personality: 'slacker' });
    const pauses = slacker.steps.filter((s) => s.pause);
    expect(pauses.length).toBeGreaterThan(0);
    expect(pauses.every((s) => s.activity === 'waiting')).toBe(true);
    // A pause is not the last thing it does, and progress stands still during it.
    expect(slacker.steps.at(-1)!.pause).toBe(false);
    slacker.steps.forEach((s, i) => {
      if (s.pause && i > 0) expect(s.progress).toBe(slacker.steps[i - 1]!.progress);
    });
    // Bursts: over many runs, a work step right after a pause is shorter than one that is not.
    const after: number[] = [];
    const normal: number[] = [];
    for (let i = 0; i < 100; i++) {
      const p = plan({ id: idOf(i), personality: 'slacker' });
      p.steps.forEach((s, j) => {
        if (s.pause || s.activity !== 'coding') return;
        (p.steps[j - 1]?.pause ? after : normal).push(s.ms);
      });
    }
    expect(mean(after)).toBeLessThan(mean(normal) * 0.7);
    for (const personality of ['ambitious', 'team_player', 'steady', 'perfectionist']) {
      for (let i = 0; i < 50; i++) expect(plan({ id: idOf(i), personality }).steps.some((s) => s.activity === 'waiting')).toBe(false);
    }
  });

  it('a team player collaborates on a collaborative subtask, and only then', () => {
    const activities = (personality: string, collaborative: boolean) =>
      new Set(plan({ personality, collaborative }).steps.map((s) => s.activity));
    expect(activities('team_player', true).has('collaborating')).toBe(true);
    expect(activities('team_player', true).has('coding')).toBe(true); // pairs on half the coding
    expect(activities('team_player', false).has('collaborating')).toBe(false);
    expect(activities('team_player', false).has('speaking')).toBe(true);
    expect(activities('steady', true).has('collaborating')).toBe(false);
  });

  it('an unknown personality falls back to the type’s default_personality', async () => {
    const cfg = config({ default_personality: 'ambitious', personality_failures: false });
    expect(planRun(task({ personality: 'grumpy' }), cfg, seededRandom(1, task().id, 1))).toEqual(
      planRun(task({ personality: 'ambitious' }), cfg, seededRandom(1, task().id, 1)),
    );
    const { outcome } = await run(task({ personality: 'grumpy' }), cfg);
    expect(outcome).toMatchObject({ ok: true, result: { personality: 'ambitious', summary: expect.stringContaining('shipped') } });
  });

  it('fails at about the personality’s rate plus the type’s, retryably', async () => {
    const rate = (personality: string, over: Record<string, unknown> = {}) => {
      const cfg = config(over);
      let fails = 0;
      for (let i = 0; i < 4000; i++) if (plan({ id: idOf(i), personality }, cfg, 3).fails) fails++;
      return fails / 4000;
    };
    for (const personality of PERSONALITY_NAMES) {
      const expected = PERSONALITIES[personality]!.failureRate;
      expect(Math.abs(rate(personality) - expected), personality).toBeLessThan(0.02);
    }
    expect(Math.abs(rate('steady', { failure_rate: 0.3 }) - 0.33)).toBeLessThan(0.03);
    expect(rate('slacker', { personality_failures: false })).toBe(0);
    expect(rate('steady', { failure_rate: 1 })).toBe(1);

    const { outcome, reports } = await run(task({ personality: 'perfectionist' }), config({ failure_rate: 1 }));
    expect(outcome).toMatchObject({
      ok: false,
      retryable: true,
      error: { code: 'simulated_failure', message: expect.stringMatching(/^Ada \(perfectionist\) hit a problem while /) },
    });
    expect(reports.some((r) => r.progress === 1)).toBe(false);
  });

  it('stops promptly when aborted, long before the planned work is done', async () => {
    const slow = config({ speed: 10, personality_failures: false }); // ~80 s of work
    const planned = planRun(task(), slow, seededRandom(7, task().id, 1)).totalMs;
    const controller = new AbortController();
    const reports: ProgressReport[] = [];
    const started = performance.now();
    const pending = createSimulatedRuntime(slow).run(task(), {
      signal: controller.signal,
      report: (r) => {
        reports.push(r);
        if (reports.length === 1) controller.abort(); // abort once it has started working
      },
    });
    const outcome = await pending;
    expect(outcome).toMatchObject({ ok: false, error: { code: 'cancelled' }, retryable: false });
    expect(performance.now() - started).toBeLessThan(planned / 10);
    expect(reports).toHaveLength(1);

    const aborted = new AbortController();
    aborted.abort();
    expect((await run(task(), slow, aborted.signal)).reports).toEqual([]);
  });

  it('steps shorter than a timer tick add up instead of each waiting for an event-loop turn', async () => {
    const timers: number[] = [];
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      // ~8 s × 0.00001: every step well under a millisecond.
      const tiny = config({ speed: 0.00001, personality_failures: false });
      const steps = planRun(task(), tiny, seededRandom(7, task().id, 1)).steps.length;
      const { outcome, reports } = await run(task(), tiny);
      timers.push(spy.mock.calls.length);
      expect(outcome.ok).toBe(true);
      expect(steps).toBeGreaterThan(3);
      // Every step still reports, in order; at most one timer for the whole run.
      expect(reports.filter((r) => r.activity !== undefined)).toHaveLength(steps);
      expect(reports.at(-1)?.progress).toBe(1);
      expect(timers[0]).toBeLessThanOrEqual(1);
      // Steps of a millisecond or more still sleep one by one.
      spy.mockClear();
      const cfg = config({ speed: 0.005, personality_failures: false });
      const longSteps = planRun(task(), cfg, seededRandom(7, task().id, 1)).steps.filter((s) => s.ms >= 1).length;
      await run(task(), cfg);
      expect(spy.mock.calls.length).toBeGreaterThanOrEqual(longSteps);
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps to timeout_s: work that needs longer runs until the deadline, then fails with timeout', async () => {
    const cfg = config({ speed: 1, personality_failures: false }); // ~8 s of work
    const planned = planRun(task(), cfg, seededRandom(7, task().id, 1)).totalMs;
    const started = performance.now();
    const { outcome, reports } = await run(task({ timeoutS: 0.05 }), cfg);
    expect(outcome).toMatchObject({ ok: false, retryable: false, error: { code: 'timeout', message: expect.stringContaining('0.05 s') } });
    expect(performance.now() - started).toBeLessThan(planned / 4);
    expect(reports.some((r) => r.progress === 1)).toBe(false);
  });
});
