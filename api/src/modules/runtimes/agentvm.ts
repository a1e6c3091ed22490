import type { AgentTypeConfig } from '../../config/schema.js';
import type { TaskError } from '../../contract/tasks.js';
import type { Runtime, RuntimeContext, RuntimeOutcome, RuntimeTask } from './runtime.js';

type AgentvmConfig = Extract<AgentTypeConfig, { runtime: 'agentvm' }>;

/** What one /agent/run answer may carry back into a task result (the tail is kept). */
const MAX_OUTPUT_CHARS = 256 * 1024;
/** A health check that takes longer than this counts as down. */
const HEALTH_TIMEOUT_MS = 5000;

interface Vm {
  endpoint: string;
  healthy: boolean;
  inFlight: number;
  lastError: string | null;
}

export interface AgentvmRuntimeDeps {
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void };
  /** Told when the type goes from no reachable VM to at least one, and back. */
  onAvailability?: (agentType: string, available: boolean) => void;
  /** Environment to read the VMs' key from (process.env by default). */
  env?: Record<string, string | undefined>;
}

const tail = (v: unknown): string | null => (typeof v === 'string' ? v.slice(-MAX_OUTPUT_CHARS) : null);

function timeoutSignal(ms: number, ...signals: AbortSignal[]): AbortSignal {
  return AbortSignal.any([...signals, AbortSignal.timeout(ms)]);
}

/**
 * Runs a type's tasks in original AgentVM VMs over their `POST /agent/run`. Spreads tasks over
 * the healthy VMs (least busy first, at most `max_concurrency_per_vm` each — the original runs
 * one command per request), health-checks each VM's /health, and reports when the type has no
 * reachable VM so its agents show offline. The worker holds the lease with heartbeats while a
 * request waits; on cancel or lease loss the request is aborted and the VM asked to cancel
 * where it answers `/agent/cancel/{id}` (this service does; the original VM does not).
 */
export function createAgentvmRuntime(
  typeName: string,
  config: AgentvmConfig,
  deps: AgentvmRuntimeDeps,
): Runtime & { vms(): Vm[]; checkHealth(): Promise<void> } {
  const env = deps.env ?? process.env;
  const vms: Vm[] = config.endpoints.map((endpoint) => ({
    endpoint: endpoint.replace(/\/+$/, ''),
    healthy: true,
    inFlight: 0,
    lastError: null,
  }));
  let available = true;
  let closed = false;

  const headers = (): Record<string, string> => {
    const key = env[config.api_key_env];
    return { 'content-type': 'application/json', 'user-agent': 'AgentVM-Bridge/1.0', ...(key ? { 'x-api-key': key } : {}) };
  };

  function markAvailability(): void {
    const now = vms.some((vm) => vm.healthy);
    if (now !== available) {
      available = now;
      deps.log[now ? 'info' : 'warn'](
        { agent_type: typeName, endpoints: vms.map((v) => v.endpoint) },
        now ? 'agentvm: a VM is reachable again' : 'agentvm: no VM reachable',
      );
      deps.onAvailability?.(typeName, now);
    }
  }

  async function checkOne(vm: Vm): Promise<void> {
    try {
      const res = await fetch(`${vm.endpoint}/health`, { headers: headers(), signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      await res.arrayBuffer().catch(() => undefined);
      vm.healthy = res.status === 200;
      vm.lastError = vm.healthy ? null : `health answered ${res.status}`;
    } catch (err) {
      vm.healthy = false;
      vm.lastError = (err as Error).message;
    }
  }

  async function checkHealth(): Promise<void> {
    await Promise.all(vms.map(checkOne));
    markAvailability();
  }

  let timer: NodeJS.Timeout | null = null;
  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => {
      void checkHealth().finally(schedule);
    }, config.health_interval_s * 1000);
    timer.unref();
  };
  void checkHealth().finally(schedule);

  function pickVm(): Vm | null {
    let best: Vm | null = null;
    for (const vm of vms) {
      if (!vm.healthy || vm.inFlight >= config.max_concurrency_per_vm) continue;
      if (!best || vm.inFlight < best.inFlight) best = vm;
    }
    return best;
  }

  function failure(code: string, message: string, retryable: boolean, extra: Record<string, unknown> = {}): RuntimeOutcome {
    const error: TaskError = { code, message, ...extra };
    return { ok: false, error, retryable };
  }

  async function run(task: RuntimeTask, ctx: RuntimeContext): Promise<RuntimeOutcome> {
    const vm = pickVm();
    if (!vm) {
      return failure(
        'vm_unavailable',
        `no AgentVM VM of ${typeName} can take a task now (${vms.map((v) => `${v.endpoint}: ${v.healthy ? 'busy' : (v.lastError ?? 'down')}`).join('; ')})`,
        true,
      );
    }
    vm.inFlight++;
    const timeoutS = Math.min(task.timeoutS, config.timeout_s);
    const repoPath = typeof task.metadata.repo_path === 'string' ? task.metadata.repo_path : config.repo_path;
    const extraArgs = Array.isArray(task.metadata.extra_args)
      ? task.metadata.extra_args.filter((a): a is string => typeof a === 'string')
      : undefined;
    const body = {
      agent: config.vm_agent ?? typeName,
      prompt: task.description,
      repo_path: repoPath,
      timeout: Math.max(1, Math.round(timeoutS)),
      ...(extraArgs?.length ? { extra_args: extraArgs } : {}),
    };
    ctx.report({ progress: 0, activity: 'coding', activityDetail: `running in AgentVM ${vm.endpoint}`, message: `sent to ${vm.endpoint}` });
    let remoteTaskId: string | null = null;
    // The VM enforces `timeout` itself; ours adds a margin for the answer to travel back.
    const signal = timeoutSignal((timeoutS + 15) * 1000, ctx.signal);
    try {
      const res = await fetch(`${vm.endpoint}/agent/run`, { method: 'POST', headers: headers(), body: JSON.stringify(body), signal });
      remoteTaskId = res.headers.get('x-agentvm-task-id');
      const text = await res.text();
      let data: Record<string, unknown>;
      try {
        data = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return failure('vm_bad_response', `AgentVM ${vm.endpoint} answered ${res.status} with something that is not JSON`, true, {
          body: text.slice(0, 500),
        });
      }
      if (res.status !== 200) {
        const detail =
          typeof data.detail === 'string' ? data.detail : typeof data.error === 'string' ? data.error : JSON.stringify(data).slice(0, 500);
        return failure('vm_error', `AgentVM ${vm.endpoint} answered ${res.status}: ${detail}`, res.status >= 500 || res.status === 429, {
          status: res.status,
        });
      }
      if (typeof data.success !== 'boolean') return failure('vm_bad_response', `AgentVM ${vm.endpoint} answered without "success"`, true);
      const outcome = {
        stdout: tail(data.stdout),
        stderr: tail(data.stderr),
        returncode: typeof data.returncode === 'number' ? data.returncode : null,
      };
      ctx.report({ progress: 1, message: data.success ? 'done' : 'failed' });
      if (data.success) return { ok: true, result: { ...outcome, vm: vm.endpoint } };
      const message = typeof data.error === 'string' && data.error ? data.error : `agent exited with ${outcome.returncode ?? 'an error'}`;
      return failure(/timed out/i.test(message) ? 'timeout' : 'agent_failed', message, false, { ...outcome, vm: vm.endpoint });
    } catch (err) {
      if (ctx.signal.aborted) {
        if (remoteTaskId) void cancelRemote(vm, remoteTaskId);
        return failure('cancelled', 'stopped before the VM answered', false);
      }
      if ((err as Error).name === 'TimeoutError')
        return failure('timeout', `AgentVM ${vm.endpoint} did not answer within ${timeoutS + 15} s`, false);
      // Connection refused / reset: the VM is down; the health loop brings it back.
      vm.healthy = false;
      vm.lastError = (err as Error).message;
      markAvailability();
      return failure(
        'vm_unreachable',
        `AgentVM ${vm.endpoint} unreachable: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
        true,
      );
    } finally {
      vm.inFlight--;
    }
  }

  async function cancelRemote(vm: Vm, remoteTaskId: string): Promise<void> {
    try {
      const res = await fetch(`${vm.endpoint}/agent/cancel/${encodeURIComponent(remoteTaskId)}`, {
        method: 'POST',
        headers: headers(),
        signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
    } catch {
      // The original VM has no cancel route; aborting the request is all it understands.
    }
  }

  return {
    name: 'agentvm',
    run,
    vms: () => vms.map((v) => ({ ...v })),
    checkHealth,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}
