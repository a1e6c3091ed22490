import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerignore, exists, readText, repoDir } from './helpers.js';

/**
 * The Dockerfile cannot be built here (no Docker engine), so its promises are checked from
 * the text: a pinned base, non-root, a healthcheck, tini, no dev dependencies in the final
 * stage — and that every file it copies survives .dockerignore and exists.
 */

type Instruction = { stage: string; keyword: string; args: string };

const text = readText('Dockerfile');
const ignored = dockerignore(readText('.dockerignore'));

/** Instructions with continuation lines joined, each tagged with its stage name. */
const instructions: Instruction[] = (() => {
  const out: Instruction[] = [];
  let stage = '(global)';
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m || line.trim().startsWith('#')) continue;
    const [, keyword, args] = m as unknown as [string, string, string];
    if (keyword === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? args;
    out.push({ stage, keyword, args });
  }
  return out;
})();
const stages = [...new Set(instructions.filter((i) => i.keyword === 'FROM').map((i) => i.stage))];
const finalStage = stages.at(-1)!;
const inStage = (stage: string, keyword: string): Instruction[] => instructions.filter((i) => i.stage === stage && i.keyword === keyword);

describe('Dockerfile', () => {
  it('builds in stages from a pinned Node 24 LTS slim base', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1];
    expect(base).toMatch(/^node:24\.\d+\.\d+-(bookworm|trixie)-slim(@sha256:[0-9a-f]{64})?$/);
    for (const from of instructions.filter((i) => i.keyword === 'FROM')) expect(from.args).toMatch(/^\$\{NODE_IMAGE\}/);
    expect(text).not.toMatch(/:latest\b/);
  });

  it('installs only production dependencies of the api in the final stage', () => {
    const runs = inStage(finalStage, 'RUN').map((i) => i.args);
    const install = runs.find((r) => r.includes('npm ci'));
    expect(install).toMatch(/npm ci --omit=dev --workspace api --include-workspace-root/);
    expect(runs.join('\n')).not.toMatch(/npm (install|i)\b/);
    // The build stage's node_modules (with dev dependencies) is never copied over.
    expect(
      inStage(finalStage, 'COPY')
        .map((i) => i.args)
        .join('\n'),
    ).not.toMatch(/node_modules/);
  });

  it('copies every workspace manifest before npm ci in every stage that runs it (npm ci checks them all)', () => {
    const workspaces = (JSON.parse(readText('package.json')) as { workspaces: string[] }).workspaces;
    for (const stage of stages) {
      const stageInstructions = instructions.filter((i) => i.stage === stage);
      const ci = stageInstructions.findIndex((i) => i.keyword === 'RUN' && i.args.includes('npm ci'));
      if (ci < 0) continue;
      const copied = stageInstructions
        .slice(0, ci)
        .filter((i) => i.keyword === 'COPY')
        .map((i) => i.args);
      for (const ws of ['package.json package-lock.json', ...workspaces.map((w) => `${w}/package.json`)]) {
        expect(
          copied.some((c) => c.startsWith(ws)),
          `${stage}: COPY ${ws} before npm ci`,
        ).toBe(true);
      }
    }
  });

  it('ships the built api, its migrations, the configs and the built console', () => {
    const copies = inStage(finalStage, 'COPY').map((i) => i.args);
    expect(copies).toEqual(
      expect.arrayContaining([
        '--from=build /app/api/dist api/dist',
        '--from=build /app/web-client/dist web-client/dist',
        'api/drizzle api/drizzle',
        'configs configs',
      ]),
    );
  });

  it('copies only files that exist and that .dockerignore lets into the context', () => {
    const sources = instructions
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(8);
    for (const source of sources) {
      expect(exists(source), `${source} exists`).toBe(true);
      expect(ignored(source), `${source} is excluded by .dockerignore`).toBe(false);
    }
    // …and keeps what must never be sent: local installs, builds, data, secrets, git.
    for (const path of [
      'node_modules',
      'api/node_modules',
      'api/dist',
      'web-client/dist',
      'data',
      'api/data',
      '.env',
      '.git',
      'deployment/terraform',
      'godot-plugin/addons',
    ])
      expect(ignored(path), `${path} must be excluded`).toBe(true);
  });

  it('runs as a non-root user with tini as PID 1, the api by default, health-checked on /health', () => {
    const user = inStage(finalStage, 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(inStage(finalStage, 'ENTRYPOINT')[0]?.args).toBe('["/usr/bin/tini", "--"]');
    expect(inStage(finalStage, 'CMD')[0]?.args).toBe('["node", "api/dist/src/server.js"]');
    expect(inStage(finalStage, 'EXPOSE')[0]?.args).toBe('8000');
    expect(inStage(finalStage, 'HEALTHCHECK')[0]?.args).toMatch(/CMD .*\/health/);
    expect(text).toMatch(/HOST=0\.0\.0\.0/);
  });
});

/** A bare npm package specifier (not ./relative, not node:builtin). */
const PACKAGE = /^(@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*(\/.*)?$/;

describe('the final stage has what the api imports', () => {
  /** Packages api/src imports at run time (type-only imports vanish in the build). */
  const runtimeImports = (): Map<string, string> => {
    const found = new Map<string, string>();
    const files = (readdirSync(join(repoDir, 'api', 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    for (const file of files) {
      const source = '\n' + readText('api', 'src', file); // a statement on line 1 also follows a newline
      const patterns = [/\bfrom\s+['"]([^'"]+)['"]/g, /^\s*import\s+['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
      for (const m of patterns.flatMap((re) => [...source.matchAll(re)])) {
        const specifier = m[1]!;
        if (!PACKAGE.test(specifier)) continue; // relative paths, node: builtins
        const statement = source.slice(Math.max(source.lastIndexOf('\nimport', m.index), source.lastIndexOf('\nexport', m.index)), m.index);
        if (/^\n(import|export)\s+type\b/.test(statement)) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        found.set(name, `api/src/${file}`);
      }
    }
    return found;
  };

  it('imports at run time only production dependencies of the api (npm ci --omit=dev installs nothing else)', () => {
    const api = JSON.parse(readText('api', 'package.json')) as { dependencies: Record<string, string> };
    const imports = runtimeImports();
    expect(imports.size).toBeGreaterThan(5);
    for (const [name, file] of imports) expect(Object.keys(api.dependencies), `${file} imports ${name}`).toContain(name);
  });
});

describe('.dockerignore matching (as BuildKit applies it)', () => {
  it('follows the last matching rule, parent directories and ** patterns', () => {
    const match = dockerignore('**/node_modules\ngodot-plugin/*\n!godot-plugin/package.json\n*.log\n');
    expect(match('api/node_modules/x/index.js')).toBe(true);
    expect(match('node_modules')).toBe(true);
    expect(match('godot-plugin/addons/agentvm/plugin.gd')).toBe(true);
    expect(match('godot-plugin/package.json')).toBe(false);
    expect(match('debug.log')).toBe(true);
    expect(match('api/debug.log')).toBe(false);
    expect(match('api/src/server.ts')).toBe(false);
  });
});
