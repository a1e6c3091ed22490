// The GDScript gate for CI without Godot (npm test -w godot-plugin):
//  1. every .gd file parses with tree-sitter-gdscript: no ERROR or MISSING node;
//  2. the Godot 4.4 compile-error pitfalls a parser misses are refused (see gdscript_lint.mjs);
//  3. every res:// path in scripts, scenes, project.godot and plugin.cfg exists, and every scene's
//     ExtResource/SubResource ids and node parents resolve.
// Prints each problem as file:line: [rule] message, then the counts, and exits 1 on any problem.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIndex, describe, lint, parse, syntaxErrors } from './gdscript_lint.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SKIP = new Set(['node_modules', '.godot', '.import']);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name) || name.startsWith('.')) return [];
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const files = walk(root);
const problems = [];
const report = (file, line, rule, message) => problems.push({ file: relative(root, file), line, rule, message });
const resPath = (file) => `res://${relative(root, file).split('\\').join('/')}`;

// 1 + 2: scripts.
const scripts = files
  .filter((f) => f.endsWith('.gd'))
  .map((file) => {
    const text = readFileSync(file, 'utf8');
    const tree = parse(text);
    return { file, resPath: resPath(file), text, tree, info: describe(tree) };
  });
let syntaxBad = 0;
for (const script of scripts) {
  const errors = syntaxErrors(script.tree, script.text);
  if (errors.length) syntaxBad++;
  for (const e of errors) report(script.file, e.line, e.rule, e.message);
}
const project = readFileSync(join(root, 'project.godot'), 'utf8');
const autoloadSection = /^\[autoload\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(project)?.[1] ?? '';
const autoloads = new Set([...autoloadSection.matchAll(/^(\w+)\s*=/gm)].map((m) => m[1]));
const classNames = new Map();
for (const script of scripts) {
  if (!script.info.className) continue;
  classNames.set(script.info.className, [...(classNames.get(script.info.className) ?? []), relative(root, script.file)]);
}
const index = buildIndex(scripts);
const lintCounts = {};
for (const script of scripts) {
  for (const p of lint(script, index, { autoloads, classNames })) {
    lintCounts[p.rule] = (lintCounts[p.rule] ?? 0) + 1;
    report(script.file, p.line, p.rule, p.message);
  }
}

// 3: references.
let references = 0;
const lineAt = (text, offset) => text.slice(0, offset).split('\n').length;
const mustExist = (file, text, offset, target) => {
  references++;
  if (!existsSync(join(root, target))) report(file, lineAt(text, offset), 'reference', `res://${target} does not exist`);
};
for (const file of files.filter((f) => /\.(gd|tscn|tres|godot|cfg)$/.test(f))) {
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/res:\/\/([\w./-]+)/g)) mustExist(file, text, m.index, m[1]);
}
for (const file of files.filter((f) => /\.(tscn|tres)$/.test(f))) {
  const text = readFileSync(file, 'utf8');
  const ext = new Map(
    [...text.matchAll(/^\[ext_resource ([^\]]*)\]/gm)].map((m) => [/ id="([^"]+)"/.exec(m[1])?.[1], /type="([^"]+)"/.exec(m[1])?.[1]]),
  );
  const sub = new Set([...text.matchAll(/^\[sub_resource [^\]]* id="([^"]+)"/gm)].map((m) => m[1]));
  for (const m of text.matchAll(/ExtResource\("([^"]+)"\)/g)) {
    references++;
    if (!ext.has(m[1])) report(file, lineAt(text, m.index), 'reference', `ExtResource("${m[1]}") is not declared`);
  }
  for (const m of text.matchAll(/SubResource\("([^"]+)"\)/g)) {
    references++;
    if (!sub.has(m[1])) report(file, lineAt(text, m.index), 'reference', `SubResource("${m[1]}") is not declared`);
  }
  for (const m of text.matchAll(/^script = ExtResource\("([^"]+)"\)/gm)) {
    if (ext.has(m[1]) && ext.get(m[1]) !== 'Script')
      report(file, lineAt(text, m.index), 'reference', `script = ExtResource("${m[1]}") is not a Script`);
  }
  const nodes = new Set();
  let sawRoot = false;
  for (const m of text.matchAll(/^\[node name="([^"]+)"([^\]]*)\]/gm)) {
    references++;
    const parent = /parent="([^"]*)"/.exec(m[2])?.[1];
    if (parent === undefined) {
      if (sawRoot) report(file, lineAt(text, m.index), 'reference', `node ${m[1]} has no parent but is not the first node`);
      sawRoot = true;
      continue;
    }
    if (parent !== '.' && !nodes.has(parent))
      report(file, lineAt(text, m.index), 'reference', `node ${m[1]}: parent "${parent}" is not declared before it`);
    nodes.add(parent === '.' ? m[1] : `${parent}/${m[1]}`);
  }
}
for (const cfg of files.filter((f) => f.endsWith('plugin.cfg'))) {
  const text = readFileSync(cfg, 'utf8');
  const script = /^script="([^"]+)"/m.exec(text)?.[1];
  references++;
  if (!script || !existsSync(join(dirname(cfg), script))) report(cfg, 1, 'reference', `plugin script "${script}" does not exist`);
}

for (const p of problems) console.log(`${p.file}:${p.line}: [${p.rule}] ${p.message}`);
const lintTotal = Object.values(lintCounts).reduce((a, b) => a + b, 0);
const referenceProblems = problems.filter((p) => p.rule === 'reference').length;
console.log(`syntax: ${scripts.length} GDScript files parsed by tree-sitter-gdscript, ${syntaxBad} with ERROR/MISSING nodes`);
console.log(
  `lint (Godot 4.4 pitfalls + static typing): ${scripts.length} files, ${lintTotal} problems${
    lintTotal
      ? ` (${Object.entries(lintCounts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')})`
      : ''
  }`,
);
console.log(`references: ${references} res:// paths, scene ids and node parents checked, ${referenceProblems} broken`);
const checks = scripts.length * 2 + references;
console.log(`${checks - problems.length < 0 ? 0 : checks - problems.length} passed, ${problems.length} failed`);
process.exit(problems.length ? 1 : 0);
