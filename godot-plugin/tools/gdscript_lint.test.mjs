// Self-test of the GDScript lint: each pitfall Godot 4.4 refuses is flagged, and the typed
// forms that compile are not (no false positives on the patterns this project uses).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildIndex, describe, lint, parse, syntaxErrors } from './gdscript_lint.mjs';

const HELPER = `class_name Helper
extends RefCounted

var data: Variant = null
var loose = 1
var count: int = 0


static func parse_it(text: String) -> Variant:
	return JSON.parse_string(text)


static func name_of(value: Dictionary) -> String:
	return str(value.get("name", ""))


func untyped_return():
	return 1
`;

function lintSource(source, { autoloads = [], extra = [] } = {}) {
  const sources = [{ resPath: 'res://helper.gd', text: HELPER }, ...extra, { resPath: 'res://subject.gd', text: source }];
  const scripts = sources.map(({ resPath, text }) => {
    const tree = parse(text);
    return { file: resPath, resPath, text, tree, info: describe(tree) };
  });
  const classNames = new Map();
  for (const s of scripts) if (s.info.className) classNames.set(s.info.className, [...(classNames.get(s.info.className) ?? []), s.resPath]);
  const subject = scripts.at(-1);
  assert.deepEqual(syntaxErrors(subject.tree, subject.text), [], 'the case parses');
  return lint(subject, buildIndex(scripts), { autoloads: new Set(autoloads), classNames });
}

const rules = (problems) => problems.map((p) => `${p.line}:${p.rule}`);
const body = (lines) =>
  `extends Node\n\n\nfunc f(d: Dictionary, a: Array, typed: Array[String], v: Variant) -> void:\n${lines.map((l) => `\t${l}`).join('\n')}\n`;

test('flags := from Variant values', () => {
  const cases = [
    'var x := JSON.parse_string("1")',
    'var x := null',
    'var x := await get_tree().process_frame',
    'var x := d["key"]',
    'var x := d[0]',
    'var x := d.get("key", 0)',
    'var x := a[0]',
    'var x := v',
    'var x := v.size()',
    'var x := max(1, 2)',
    'var x := ProjectSettings.get_setting("a/b")',
    'var x := Helper.parse_it("1")',
    'var x := Helper.new().data',
    'var x := Helper.new().loose',
    'var x := Helper.new().untyped_return()',
    'var x := a.reduce(func(s: int, i: int) -> int: return s + i, 0)',
    'var x := v + 1',
    'var x := 1 if true else v',
  ];
  for (const line of cases) {
    const found = rules(lintSource(body([line, 'print(x)'])));
    assert.ok(
      found.some((r) => r.endsWith('variant-inference')),
      `${line} → ${found.join(', ') || 'nothing'}`,
    );
  }
});

test('accepts := from typed values', () => {
  const cases = [
    'var x := typed[0]',
    'var x := str(d.get("a"))',
    'var x := d.get("a") as Dictionary',
    'var x := Helper.name_of(d)',
    'var x := Helper.new()',
    'var x := Helper.new().count',
    'var x := Vector3(1, 2, 3)',
    'var x := maxi(1, 2)',
    'var x := "%s" % [v]',
    'var x := d.duplicate()',
    'var x := d.size() > 0',
    'var x := not v',
    'var x := v is String',
    'var x := typed.size()',
    'var x := func(q: int) -> int: return q',
    'var x := [1, 2]',
  ];
  for (const line of cases) {
    const found = rules(lintSource(body([line, 'print(x)'])));
    assert.deepEqual(found, [], `${line} → ${found.join(', ')}`);
  }
});

test('flags members that redefine native ones, and native method overrides', () => {
  assert.deepEqual(rules(lintSource('extends Node\n\nvar name: String = ""\n')), ['3:native-member']);
  assert.deepEqual(rules(lintSource('extends Node3D\n\nvar position: Vector3 = Vector3.ZERO\n')), ['3:native-member']);
  assert.deepEqual(rules(lintSource('extends Node\n\nsignal ready\n')), ['3:native-member']);
  assert.deepEqual(rules(lintSource('extends Node\n\n\nfunc queue_free() -> void:\n\tpass\n')), ['4:native-member']);
  assert.deepEqual(rules(lintSource('extends RefCounted\n\n\nfunc is_connected() -> bool:\n\treturn true\n')), ['4:native-member']);
  assert.deepEqual(rules(lintSource('extends Node\n\nvar display_name: String = ""\n\n\nfunc _ready() -> void:\n\tpass\n')), []);
  // Through a project parent: Helper extends RefCounted.
  assert.deepEqual(rules(lintSource('extends Helper\n\nvar get: int = 0\n')), ['3:native-member']);
});

test('flags class_name clashes', () => {
  assert.deepEqual(rules(lintSource('class_name AgentVM\nextends Node\n', { autoloads: ['AgentVM'] })), ['1:class-name']);
  assert.deepEqual(rules(lintSource('class_name Timer\nextends Node\n')), ['1:class-name']);
  assert.deepEqual(rules(lintSource('class_name Helper\nextends Node\n')), ['1:class-name']);
  assert.deepEqual(rules(lintSource('class_name AgentVMManager\nextends Node\n', { autoloads: ['AgentVM'] })), []);
});

test('flags super calls into a native parent', () => {
  assert.deepEqual(rules(lintSource('extends Node\n\n\nfunc _process(delta: float) -> void:\n\tsuper._process(delta)\n')), [
    '5:super-call',
  ]);
  const parent = { resPath: 'res://parent.gd', text: 'class_name Parent\nextends Node\n\n\nfunc _ready() -> void:\n\tpass\n' };
  assert.deepEqual(rules(lintSource('extends Parent\n\n\nfunc _ready() -> void:\n\tsuper._ready()\n', { extra: [parent] })), []);
  assert.deepEqual(
    rules(lintSource('extends Parent\n\n\nfunc _process(delta: float) -> void:\n\tsuper._process(delta)\n', { extra: [parent] })),
    ['5:super-call'],
  );
});

test('flags @onready misuse', () => {
  assert.deepEqual(rules(lintSource('extends Node\n\nvar label: Label = $Label\n')), ['3:onready']);
  assert.deepEqual(rules(lintSource('extends Node\n\n@export @onready var label: Label = $Label\n')), ['3:onready']);
  assert.deepEqual(rules(lintSource('extends Node\n\n@onready var label: Label = $Label\n')), []);
});

test('requires static types', () => {
  assert.deepEqual(rules(lintSource('extends Node\n\nvar speed = 1.0\n')), ['3:static-types']);
  assert.deepEqual(rules(lintSource('extends Node\n\n\nfunc f(a, b: int = 2) -> void:\n\tpass\n')), ['4:static-types']);
  assert.deepEqual(rules(lintSource('extends Node\n\n\nfunc f():\n\tpass\n')), ['4:static-types']);
  assert.deepEqual(rules(lintSource('extends Node\n\nsignal moved(where)\n')), ['3:static-types']);
  assert.deepEqual(rules(lintSource(body(['for i in 3:', '\tprint(i)']))), ['5:static-types']);
  assert.deepEqual(rules(lintSource(body(['var l := func(q) -> void: print(q)']))), ['5:static-types']);
});

test('flags space indentation', () => {
  assert.deepEqual(rules(lintSource('extends Node\n\n\nfunc f() -> void:\n    pass\n')), ['5:indentation']);
});

test('checks calls to project functions: existence and argument count', () => {
  assert.deepEqual(rules(lintSource(body(['Helper.name_of()']))), ['5:call']);
  assert.deepEqual(rules(lintSource(body(['Helper.name_of(d, 1)']))), ['5:call']);
  assert.deepEqual(rules(lintSource(body(['Helper.nope()']))), ['5:call']);
  assert.deepEqual(rules(lintSource(body(['Helper.new().untyped_return(1)']))), ['5:call']);
  assert.deepEqual(rules(lintSource(body(['var h := Helper.new()', 'h.parse_it()']))), ['6:call']);
  assert.deepEqual(rules(lintSource(body(['Helper.name_of(d)', 'Helper.new().get_reference_count()', 'print(Helper.parse_it("1"))']))), []);
  const own = 'extends Node\n\n\nfunc g(a: int, b: int = 0) -> void:\n\tpass\n\n\nfunc f() -> void:\n\tg()\n\tg(1)\n\tg(1, 2, 3)\n';
  assert.deepEqual(rules(lintSource(own)), ['9:call', '11:call']);
});

test('flags members declared twice', () => {
  assert.deepEqual(rules(lintSource('extends Node\n\nvar speed: float = 1.0\n\n\nfunc speed() -> float:\n\treturn 1.0\n')), [
    '6:duplicate',
  ]);
  assert.deepEqual(rules(lintSource('extends Node\n\nsignal done\nsignal done\n')), ['4:duplicate']);
});

test('flags an object cast of a Variant that was not tested with is', () => {
  assert.deepEqual(rules(lintSource(body(['var r := v as Helper', 'print(r)']))), ['5:variant-cast']);
  assert.deepEqual(rules(lintSource(body(['var x: Variant = d.get("a")', 'print((x as Node).name)']))), ['6:variant-cast']);
  // Guarded casts, value conversions and casts of typed values are fine.
  assert.deepEqual(rules(lintSource(body(['if v is Helper:', '\tprint((v as Helper).count)']))), []);
  assert.deepEqual(rules(lintSource(body(['print(v is Helper and (v as Helper).count > 0)']))), []);
  assert.deepEqual(rules(lintSource(body(['var r: Variant = (v as Helper).count if v is Helper else 0', 'print(r)']))), []);
  assert.deepEqual(rules(lintSource(body(['var r := v as Dictionary', 'print(r)']))), []);
  assert.deepEqual(rules(lintSource(body(['var r := v as Array[String]', 'print(r)']))), []);
  assert.deepEqual(rules(lintSource(body(['var n: Node = null', 'print(n as Node3D)']))), []);
});

test('flags instance members used from a static function', () => {
  const script = (lines) =>
    `extends Node\n\nstatic var shared: int = 0\nvar own: int = 0\n\n\nfunc instance_fn() -> int:\n\treturn 1\n\n\nstatic func static_fn() -> int:\n\treturn 2\n\n\nstatic func subject(arg: int) -> void:\n${lines.map((l) => `\t${l}`).join('\n')}\n`;
  assert.deepEqual(rules(lintSource(script(['instance_fn()']))), ['16:static-context']);
  assert.deepEqual(rules(lintSource(script(['print(own)']))), ['16:static-context']);
  assert.deepEqual(rules(lintSource(script(['own = arg']))), ['16:static-context']);
  assert.deepEqual(rules(lintSource(script(['print(self)']))), ['16:static-context']);
  assert.deepEqual(rules(lintSource(script(['get_tree()']))), ['16:static-context']);
  assert.deepEqual(rules(lintSource(script(['print(name)']))), ['16:static-context']);
  assert.deepEqual(rules(lintSource(script(['var f := func() -> int: return own', 'print(f)']))), ['16:static-context']);
  // Static members, constants, locals, parameters and other classes' statics are fine.
  assert.deepEqual(rules(lintSource(script(['shared += static_fn() + arg', 'var own_copy: int = shared', 'print(own_copy, Helper.name_of({}))']))), []);
  assert.deepEqual(rules(lintSource(script(['var own: int = 1', 'print(own)']))), []);
});

test('flags untyped arrays assigned to or returned as typed arrays', () => {
  assert.deepEqual(rules(lintSource(body(['var keys: Array[String] = d.keys()', 'print(keys)']))), ['5:typed-array']);
  assert.deepEqual(rules(lintSource(body(['var copy: Array[String] = a', 'print(copy)']))), ['5:typed-array']);
  assert.deepEqual(rules(lintSource(body(['var lengths: Array[int] = typed.map(func(s: String) -> int: return s.length())', 'print(lengths)']))), [
    '5:typed-array',
  ]);
  const returns = 'extends Node\n\n\nfunc f(d: Dictionary) -> Array[String]:\n\treturn d.keys()\n';
  assert.deepEqual(rules(lintSource(returns)), ['5:typed-array']);
  // Literals are typed by their context; typed sources and assign() are fine.
  assert.deepEqual(rules(lintSource(body(['var x: Array[String] = []', 'var y: Array[String] = ["a", str(v)]', 'var z: Array[String] = typed.duplicate()', 'x.assign(d.keys())', 'print(x, y, z)']))), []);
  assert.deepEqual(rules(lintSource('extends Node\n\n\nfunc f() -> Array[String]:\n\treturn ["a"]\n')), []);
});
