extends RefCounted
## Assertions, counters and shared helpers for the headless test runner (run_tests.gd).

const FIXTURES_PATH := "res://tests/fixtures/contract.json"

## The runner's SceneTree (for frames, timers and adding nodes).
var tree: SceneTree
var passed: int = 0
var failed: int = 0
var failures: Array[String] = []
## The suite running now, and the last suite that reached its end (see done()).
var suite: String = ""
var finished_suite: String = ""

var _fixtures: Dictionary = {}


func _init(scene_tree: SceneTree) -> void:
	tree = scene_tree


## Records a check; prints failures with their detail.
func check(label: String, condition: bool, detail: String = "") -> bool:
	if condition:
		passed += 1
		print("  ok    %s" % label)
	else:
		failed += 1
		var line := "%s: %s%s" % [suite, label, (" — " + detail) if detail != "" else ""]
		failures.append(line)
		print("  FAIL  %s%s" % [label, (" — " + detail) if detail != "" else ""])
	return condition


## Checks equality: JSON-like values (dictionaries, arrays, numbers) compare as the same JSON,
## everything else with == (only between values of the same type).
func equal(label: String, actual: Variant, expected: Variant) -> bool:
	return check(label, same(actual, expected), "got %s, expected %s" % [_show(actual), _show(expected)])


## Marks the end of a suite: the runner reports a suite that stopped early (a script error).
func done() -> void:
	finished_suite = suite


## The shared fixture file.
func fixtures() -> Dictionary:
	if _fixtures.is_empty():
		_fixtures = AgentVMJson.parse_object(FileAccess.get_file_as_string(FIXTURES_PATH))
	return _fixtures


## A server frame of the fixture, by name.
func frame(frame_name: String) -> Dictionary:
	var frames := AgentVMJson.dict_of(AgentVMJson.dict_of(fixtures(), "websocket"), "frames")
	var found := AgentVMJson.dict_of(frames, frame_name)
	check("fixture has the frame %s" % frame_name, not found.is_empty())
	return found


## A fixture frame as the text the server sends.
func frame_text(frame_name: String) -> String:
	return JSON.stringify(frame(frame_name))


## Waits (frame by frame) until [param condition] returns true or the time is up.
func wait_until(condition: Callable, timeout_s: float) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while not bool(condition.call()):
		if Time.get_ticks_msec() > deadline:
			return false
		await tree.process_frame
	return true


## True when two values are equal (see equal()).
static func same(actual: Variant, expected: Variant) -> bool:
	var containers := [TYPE_DICTIONARY, TYPE_ARRAY, TYPE_INT, TYPE_FLOAT, TYPE_PACKED_STRING_ARRAY]
	if containers.has(typeof(actual)) and containers.has(typeof(expected)):
		return AgentVMJson.same(actual, expected)
	if typeof(actual) != typeof(expected):
		return false
	return actual == expected


static func _show(value: Variant) -> String:
	if value is Dictionary or value is Array:
		return JSON.stringify(value).left(300)
	return str(value).left(300)
