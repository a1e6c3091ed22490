import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * `repo_path` and `extra_args` arrive from the network. These checks decide whether a command
 * runtime may use them: a path must lie under one of the configured roots once `..` and
 * symlinks are resolved, and every extra argument must fully match an allowed pattern.
 */
function realOrResolved(path: string): string {
  const resolved = resolve(path);
  try {
    return realpathSync(resolved);
  } catch {
    return resolved; // not there yet: judge the normalised path
  }
}

export function isUnder(root: string, path: string): boolean {
  const rel = relative(realOrResolved(root), path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && !rel.startsWith(`..${sep}`));
}

/** The real directory for repo_path, or an explanation of why it is refused. */
export function resolveRepoPath(repoPath: string, roots: readonly string[]): { ok: true; path: string } | { ok: false; reason: string } {
  if (!isAbsolute(repoPath)) return { ok: false, reason: `"${repoPath}" is not an absolute path` };
  if (roots.length === 0) return { ok: false, reason: 'this agent type allows no repo_path (workspace_roots is empty)' };
  const real = realOrResolved(repoPath);
  if (!roots.some((root) => isUnder(root, real))) {
    return { ok: false, reason: `"${repoPath}" is outside the allowed workspace roots (${roots.join(', ')})` };
  }
  return { ok: true, path: real };
}

/** The first argument no pattern allows, or null when all are allowed. Patterns are anchored. */
export function disallowedArg(args: readonly string[], patterns: readonly string[]): string | null {
  const compiled = patterns.map((p) => new RegExp(`^(?:${p})$`));
  return args.find((arg) => !compiled.some((re) => re.test(arg))) ?? null;
}
