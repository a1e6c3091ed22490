import { z } from 'zod';

/**
 * The original AgentVM VM's API (`POST /agent/run`), served unchanged for its Python client,
 * its first Godot plugin, CI/curl scripts and the agent-system adapter.
 */
export const agentRunBody = z.object({
  agent: z.string().min(1).max(32).describe('agent type: aider, opencode, claude, … (a configured type)'),
  prompt: z.string().min(1, 'must not be empty').max(100_000),
  repo_path: z.string().min(1).max(4096).nullable().optional().describe('working tree; see the runtime rules in api/README.md'),
  timeout: z.number().int().min(1).max(3600).default(600).describe('seconds; past it the task is cancelled'),
  extra_args: z.array(z.string().max(1024)).max(64).nullable().optional().describe('extra argv elements (never a shell string)'),
});
// The original (FastAPI/pydantic) ignored unknown fields; so does this route.
export type AgentRunBody = z.infer<typeof agentRunBody>;

/** Exactly these five keys: the Python client builds a dataclass from **data. */
export const agentRunResponse = z
  .object({
    success: z.boolean(),
    stdout: z.string().nullable(),
    stderr: z.string().nullable(),
    returncode: z.number().int().nullable(),
    error: z.string().nullable(),
  })
  .strict();
export type AgentRunResponse = z.infer<typeof agentRunResponse>;
