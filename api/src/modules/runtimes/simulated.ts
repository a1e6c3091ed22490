import type { AgentTypeConfig } from '../../config/schema.js';
import type { Activity } from '../../contract/agents.js';
import type { Runtime, RuntimeContext, RuntimeOutcome, RuntimeTask } from './runtime.js';

type SimulatedConfig = Extract<AgentTypeConfig, { runtime: 'simulated' }>;

/** Base length of a simulated task's work at speed 1, before the personality's pace. */
export const BASE_DURATION_MS = 8000;
/** Each phase is cut into this many steps per 100 % share (at least one step per phase). */
const STEPS_PER_TASK = 10;

export interface Personality {
  /** Multiplies the duration of the work (1 = BASE_DURATION_MS at speed 1). */
  pace: number;
  /** Chance an attempt fails (retryable), before the type's failure_rate is added. */
  failureRate: number;
  /** Share of the work spent in each activity, in order; shares add up to 1. */
  phases: ReadonlyArray<readonly [Activity, number]>;
  /** Chance that a `waiting` pause comes before a step (the slacker's coffee breaks). */
  pauseChance: number;
  /** Length of a pause, as a multiple of the step it precedes. */
  pauseLength: number;
  /** The step after a pause takes this fraction of its time: a burst of work. 1 = no burst. */
  burst: number;
  /** Word for the result's summary ("Ada shipped …"). */
  verb: string;
}

/**
 * The five personalities of the original office simulation, as work styles: how fast, how
 * reliable, and where the time goes (what the NPC shows). The README's table lists these figures.
 */
export const PERSONALITIES: Readonly<Record<string, Personality>> = {
  ambitious: {
    pace: 0.7,
    failureRate: 0.06,
    phases: [
      ['thinking', 0.1],
      ['coding', 0.6],
      ['testing', 0.15],
      ['reviewing', 0.15],
    ],
    pauseChance: 0,
    pauseLength: 0,
    burst: 1,
    verb: 'shipped',
  },
  team_player: {
    pace: 1.0,
    failureRate: 0.04,
    phases: [
      ['thinking', 0.15],
      ['speaking', 0.1],
      ['coding', 0.45],
      ['testing', 0.15],
      ['reviewing', 0.15],
    ],
    pauseChance: 0,
    pauseLength: 0,
    burst: 1,
    verb: 'wrapped up',
  },
  steady: {
    pace: 1.0,
    failureRate: 0.03,
    phases: [
      ['thinking', 0.15],
      ['coding', 0.5],
      ['testing', 0.2],
      ['reviewing', 0.15],
    ],
    pauseChance: 0,
    pauseLength: 0,
    burst: 1,
    verb: 'finished',
  },
  perfectionist: {
    pace: 1.6,
    failureRate: 0.02,
    phases: [
      ['thinking', 0.15],
      ['coding', 0.3],
      ['testing', 0.3],
      ['reviewing', 0.25],
    ],
    pauseChance: 0,
    pauseLength: 0,
    burst: 1,
    verb: 'polished',
  },
  slacker: {
    pace: 1.2,
    failureRate: 0.12,
    phases: [
      ['thinking', 0.1],
      ['coding', 0.6],
      ['testing', 0.2],
      ['reviewing', 0.1],
    ],
    pauseChance: 0.35,
    pauseLength: 1.5,
    burst: 0.5,
    verb: 'eventually finished',
  },
};

/** sfc32: a small, fast, well-distributed seeded PRNG (public domain). Returns [0, 1). */
export function sfc32(a: number, b: number, c: number, d: number): () => number {
  return () => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

/** 32-bit FNV-1a of a string: turns a seed + task id + attempt into PRNG state. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The PRNG for one attempt: a fixed seed gives the same draws for the same task and attempt (a
 * retry is a new draw, not a replay); a null seed gives fresh draws every time.
 */
export function seededRandom(seed: number | null, taskId: string, attempt: number): () => number {
  const base = seed === null ? `${Math.random()}:${Date.now()}` : `${seed}`;
  const s = `${base}:${taskId}:${attempt}`;
  const rand = sfc32(hash32(s), hash32(`a${s}`), hash32(`b${s}`), hash32(`c${s}`));
  for (let i = 0; i < 12; i++) rand(); // warm up
  return rand;
}

export interface PlanStep {
  activity: Activity;
  ms: number;
  /** Progress once this step is done (0..1); a pause leaves it where it was. */
  progress: number;
  detail: string;
  /** A `waiting` pause: no work gets done. */
  pause: boolean;
}

export interface Plan {
  /** The personality actually used (the type's default_personality for an unknown name). */
  personality: string;
  steps: PlanStep[];
  /** Sum of all steps, pauses included. */
  totalMs: number;
  fails: boolean;
  /** Index of the (work) step during which the failure happens; -1 when the run succeeds. */
  failAt: number;
}

const DETAILS: Record<Activity, readonly string[]> = {
  thinking: ['reading the task', 'planning the change', 'looking at the code'],
  coding: ['writing code', 'editing files', 'refactoring'],
  testing: ['running the test suite', 'checking edge cases'],
  reviewing: ['reviewing the diff', 'tidying up'],
  speaking: ['talking to the team', 'asking a question'],
  moving: ['walking over'],
  collaborating: ['pairing with the team', 'syncing with the team'],
  waiting: ['taking a break', 'getting a coffee', 'waiting for a build'],
};

export function personalityOf(task: RuntimeTask, config: SimulatedConfig): [string, Personality] {
  const own = PERSONALITIES[task.personality];
  if (own) return [task.personality, own];
  return [config.default_personality, PERSONALITIES[config.default_personality] ?? PERSONALITIES.steady!];
}

/**
 * The whole run decided up front from the PRNG: same seed + task + attempt, same trace and
 * outcome. Work takes BASE_DURATION_MS × pace × speed × jitter (0.8–1.2), split into steps
 * over the personality's phases; pauses come on top.
 */
export function planRun(task: RuntimeTask, config: SimulatedConfig, rand: () => number): Plan {
  const [name, personality] = personalityOf(task, config);
  const workMs = BASE_DURATION_MS * personality.pace * config.speed * (0.8 + rand() * 0.4);
  // A collaborative subtask: the team player pairs (speaking and every other coding step).
  const pairs = task.collaborative && name === 'team_player';
  const stepCounts = personality.phases.map(([, share]) => Math.max(1, Math.round(share * STEPS_PER_TASK)));
  // A personality that pauses takes at least one break (never before the first step).
  const totalSteps = stepCounts.reduce((a, b) => a + b, 0);
  const forcedPause = personality.pauseChance > 0 ? 1 + Math.floor(rand() * (totalSteps - 1)) : -1;
  const steps: PlanStep[] = [];
  let burst = false;
  let codingStep = 0;
  let workStep = 0;
  for (const [phase, [phaseActivity, share]] of personality.phases.entries()) {
    const stepCount = stepCounts[phase]!;
    for (let i = 0; i < stepCount; i++, workStep++) {
      let activity = phaseActivity;
      if (pairs && (activity === 'speaking' || (activity === 'coding' && codingStep++ % 2 === 1))) activity = 'collaborating';
      // ±25 % per step, so the bubbles don't tick like a metronome.
      let ms = ((workMs * share) / stepCount) * (0.75 + rand() * 0.5);
      if (rand() < personality.pauseChance || workStep === forcedPause) {
        steps.push({
          activity: 'waiting',
          ms: ms * personality.pauseLength,
          progress: 0,
          detail: pick(DETAILS.waiting, rand),
          pause: true,
        });
        burst = true;
      }
      if (burst) {
        ms *= personality.burst;
        burst = false;
      }
      steps.push({ activity, ms, progress: 0, detail: pick(DETAILS[activity], rand), pause: false });
    }
  }
  // Progress grows with the work done (pauses add none); the last work step reaches 1.
  const work = steps.reduce((sum, s) => (s.pause ? sum : sum + s.ms), 0);
  let done = 0;
  for (const step of steps) {
    if (!step.pause) done += step.ms;
    step.progress = Math.min(1, done / work);
  }
  steps.filter((s) => !s.pause).at(-1)!.progress = 1;

  const failureRate = Math.min(1, (config.personality_failures ? personality.failureRate : 0) + config.failure_rate);
  const fails = rand() < failureRate;
  let failAt = -1;
  if (fails) {
    const workSteps = steps.flatMap((s, i) => (s.pause ? [] : [i]));
    failAt = workSteps[Math.floor(rand() * workSteps.length)]!;
  }
  return { personality: name, steps, totalMs: steps.reduce((sum, s) => sum + s.ms, 0), fails, failAt };
}

function pick<T>(items: readonly T[], rand: () => number): T {
  return items[Math.floor(rand() * items.length)]!;
}

/** Resolves true after `ms`, or false as soon as the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The built-in simulated runtime: no tool runs; the NPC thinks, codes, tests and reviews in a
 * pattern set by its personality, and sometimes fails (retryable), reproducibly with a seed.
 * It keeps to the task's timeout_s like a real runtime: work that would take longer runs until
 * the deadline and then fails with `timeout`.
 */
export function createSimulatedRuntime(config: SimulatedConfig): Runtime {
  return {
    name: 'simulated',
    async run(task: RuntimeTask, ctx: RuntimeContext): Promise<RuntimeOutcome> {
      const plan = planRun(task, config, seededRandom(config.seed, task.id, task.attempt));
      const cancelled: RuntimeOutcome = {
        ok: false,
        error: { code: 'cancelled', message: 'the simulated work was stopped' },
        retryable: false,
      };
      if (ctx.signal.aborted) return cancelled;
      const started = Date.now();
      const budgetMs = task.timeoutS * 1000;
      let elapsedMs = 0; // planned time, so the timeout point is as reproducible as the trace
      // Planned time not slept yet. Steps shorter than a timer's resolution (1 ms: a fast speed
      // setting) add up instead of each waiting for its own event-loop turn — on a busy loop
      // each such turn took milliseconds, and a task of ten sub-millisecond steps took ~50 ms.
      let owedMs = 0;
      for (let i = 0; i < plan.steps.length; i++) {
        if (ctx.signal.aborted) return cancelled;
        const step = plan.steps[i]!;
        ctx.report({ activity: step.activity, activityDetail: step.detail, message: step.detail });
        const failsHere = i === plan.failAt;
        // A failure strikes halfway through its step.
        const stepMs = failsHere ? step.ms / 2 : step.ms;
        if (elapsedMs + stepMs > budgetMs) {
          if (!(await sleep(owedMs + Math.max(0, budgetMs - elapsedMs), ctx.signal))) return cancelled;
          return {
            ok: false,
            error: {
              code: 'timeout',
              message: `the simulated work needs ${formatSeconds(plan.totalMs)}, more than the task's timeout of ${task.timeoutS} s`,
              step: i,
            },
            retryable: false,
          };
        }
        owedMs += stepMs;
        if (owedMs >= 1 || failsHere) {
          if (!(await sleep(owedMs, ctx.signal))) return cancelled;
          owedMs = 0;
        }
        elapsedMs += stepMs;
        if (failsHere) {
          return {
            ok: false,
            error: {
              code: 'simulated_failure',
              message: `${task.agentName} (${plan.personality}) hit a problem while ${step.detail}`,
              step: i,
            },
            retryable: true,
          };
        }
        if (!step.pause) ctx.report({ progress: step.progress });
      }
      return {
        ok: true,
        result: {
          summary: `${task.agentName} ${PERSONALITIES[plan.personality]!.verb} "${truncate(task.description, 80)}"`,
          personality: plan.personality,
          duration_ms: Date.now() - started,
          steps: plan.steps.length,
        },
      };
    },
  };
}

function formatSeconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}

function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}
