import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';

/** deployment/ and the repository root. */
export const deploymentDir = fileURLToPath(new URL('..', import.meta.url));
export const repoDir = join(deploymentDir, '..');

export type Hcl = Record<string, any>;

/** One Terraform root module, parsed file by file with @cdktf/hcl2json (no provider needed). */
export interface TerraformRoot {
  cloud: string;
  dir: string;
  files: Record<string, Hcl>;
  /** All .tf sources concatenated, for checks on expressions hcl2json keeps as strings. */
  text: string;
  /** Blocks of one kind (variable, output, …) from every file, by name; each is the block body. */
  blocks(kind: string): Record<string, Hcl>;
  /** Resources (or data sources with kind 'data') of one type, by name. */
  resources(type: string, kind?: 'resource' | 'data'): Record<string, Hcl>;
  resource(type: string, name: string): Hcl;
}

const cache = new Map<string, Promise<TerraformRoot>>();

export function loadTerraform(cloud: string): Promise<TerraformRoot> {
  if (!cache.has(cloud)) cache.set(cloud, parseRoot(cloud));
  return cache.get(cloud)!;
}

async function parseRoot(cloud: string): Promise<TerraformRoot> {
  const dir = join(deploymentDir, 'terraform', cloud);
  const files: Record<string, Hcl> = {};
  let text = '';
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .sort()) {
    const content = readFileSync(join(dir, file), 'utf8');
    text += content + '\n';
    files[file] = (await parse(file, content)) as Hcl;
  }
  const blocks = (kind: string): Record<string, Hcl> => {
    const out: Record<string, Hcl> = {};
    for (const parsed of Object.values(files)) {
      for (const [name, bodies] of Object.entries((parsed[kind] ?? {}) as Record<string, Hcl[]>)) out[name] = bodies[0]!;
    }
    return out;
  };
  const resources = (type: string, kind: 'resource' | 'data' = 'resource'): Record<string, Hcl> => {
    const out: Record<string, Hcl> = {};
    for (const parsed of Object.values(files)) {
      for (const [name, bodies] of Object.entries((parsed[kind]?.[type] ?? {}) as Record<string, Hcl[]>)) out[name] = bodies[0]!;
    }
    return out;
  };
  const resource = (type: string, name: string): Hcl => {
    const found = resources(type)[name];
    if (!found) throw new Error(`terraform/${cloud}: no resource ${type}.${name}`);
    return found;
  };
  return { cloud, dir, files, text, blocks, resources, resource };
}

/** Every [path, value] pair in a parsed tree, paths like resource.aws_lb.this[0].idle_timeout. */
export function* walk(node: unknown, path = ''): Generator<[string, unknown]> {
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) yield* walk(item, `${path}[${i}]`);
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      const here = path ? `${path}.${key}` : key;
      yield [here, value];
      yield* walk(value, here);
    }
  }
}

/** A file of the repository, as text. */
export function readText(...parts: string[]): string {
  return readFileSync(join(repoDir, ...parts), 'utf8');
}

/** Whether a path exists in the repository. */
export function exists(...parts: string[]): boolean {
  return existsSync(join(repoDir, ...parts));
}

/**
 * .dockerignore semantics (as BuildKit applies them): patterns are relative to the context
 * root; `*` and `?` stay within a path segment, `**` spans segments; a pattern that matches a
 * parent directory excludes everything below it; `!` re-includes; the last matching rule wins.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = (negate ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '');
      let source = '';
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i]!;
        if (c === '*' && pattern[i + 1] === '*') {
          const slash = pattern[i + 2] === '/';
          source += slash ? '(?:.*/)?' : '.*';
          i += slash ? 2 : 1;
        } else if (c === '*') source += '[^/]*';
        else if (c === '?') source += '[^/]';
        else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${source}$`) };
    });
  return (path: string) => {
    const parts = path.replace(/\/+$/, '').split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const { negate, re } of rules) {
      if (negate ? re.test(prefixes.at(-1)!) : prefixes.some((p) => re.test(p))) ignored = !negate;
    }
    return ignored;
  };
}
