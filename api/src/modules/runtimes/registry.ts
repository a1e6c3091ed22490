import type { AgentTypeConfig } from '../../config/schema.js';
import { createAgentvmRuntime } from './agentvm.js';
import { createCommandRuntime } from './command.js';
import type { Runtime } from './runtime.js';
import { createSimulatedRuntime } from './simulated.js';

export interface RuntimeDeps {
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void; error?: (obj: object, msg: string) => void };
  /** agentvm: every VM of a type unreachable (false) or one back (true). */
  onAvailability?: (agentType: string, available: boolean) => void;
}

/**
 * The built-in runtime for an agent type, or null for `external` types (a remote process drives
 * those through the runtime protocol). `agentvm` types get the in-process client of the original
 * AgentVM VMs (./agentvm.ts). Throws on a config problem (an unknown argv placeholder, a bad
 * extra_args_allow pattern), naming the config key, so a bad config fails at boot.
 */
export function createRuntime(typeName: string, config: AgentTypeConfig, deps: RuntimeDeps): Runtime | null {
  switch (config.runtime) {
    case 'simulated':
      return createSimulatedRuntime(config);
    case 'command':
      return createCommandRuntime(typeName, config);
    case 'agentvm':
      return createAgentvmRuntime(typeName, config, {
        log: deps.log,
        ...(deps.onAvailability ? { onAvailability: deps.onAvailability } : {}),
      });
    case 'external':
      return null;
  }
}
