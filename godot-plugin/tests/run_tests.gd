extends SceneTree
## Headless tests of the AgentVM plugin:
##   godot --headless --path godot-plugin -s res://tests/run_tests.gd
## Runs the pure tests (protocol rules, the shared contract fixture, dispatch) and the node tests,
## then, when AGENTVM_TEST_URL is set, the live tests against that api with AGENTVM_API_KEY.
## Prints "N passed, N failed" and quits with 1 on any failure, on a suite that stopped early
## (a script error), or when the whole run exceeds OVERALL_TIMEOUT_S.

## Loaded only once the addon's classes are known (see _initialize): it uses them.
const TEST_CONTEXT_PATH := "res://tests/test_context.gd"
## A class_name of the addon. Outside the editor Godot knows class_names only from
## .godot/global_script_class_cache.cfg, which an editor run writes: without it every script of
## the addon fails to compile ("Identifier not declared"), so the runner says why and stops.
const PROBE_CLASS := "AgentVMManager"
const SUITES := [
	"res://tests/unit/test_results.gd",
	"res://tests/unit/test_protocol.gd",
	"res://tests/unit/test_backoff.gd",
	"res://tests/unit/test_contract_requests.gd",
	"res://tests/unit/test_event_stream.gd",
	"res://tests/unit/test_state.gd",
	"res://tests/unit/test_batch_settings_lod.gd",
	"res://tests/unit/test_nodes.gd",
]
const LIVE_SUITE := "res://tests/live/test_live.gd"
## A script error inside an awaited test does not end the process: this does.
const OVERALL_TIMEOUT_S := 240.0

var _context: RefCounted  # an instance of test_context.gd
var _finished: bool = false


func _initialize() -> void:
	print("AgentVM plugin tests — Godot %s" % str(Engine.get_version_info().get("string", "?")))
	if not _knows_class(PROBE_CLASS):
		print("the class %s is unknown: .godot/global_script_class_cache.cfg is missing or stale." % PROBE_CLASS)
		print("Import the project once first: godot --headless --path godot-plugin --import")
		print("0 passed, 1 failed")
		_finished = true
		quit(1)
		return
	var context_script := load(TEST_CONTEXT_PATH) as GDScript
	_context = context_script.new(self)
	create_timer(OVERALL_TIMEOUT_S).timeout.connect(_on_timeout)
	_run.call_deferred()


func _run() -> void:
	# Nodes added while the runner starts enter the tree only on the first frame: an HTTPRequest
	# used before that fails with ERR_UNCONFIGURED.
	await process_frame
	for path: String in SUITES:
		await _run_suite(path)
	if OS.get_environment("AGENTVM_TEST_URL") == "":
		print("skip live tests: set AGENTVM_TEST_URL (and AGENTVM_API_KEY) to run them against an api")
	else:
		await _run_suite(LIVE_SUITE)
	_finish()


func _run_suite(path: String) -> void:
	_context.suite = path.get_file().get_basename()
	print(_context.suite)
	var script := load(path) as GDScript
	if not _context.check("%s loads" % path, script != null and script.can_instantiate()):
		return
	var suite: RefCounted = script.new()
	await suite.call("run", _context)
	_context.check("%s ran to its end" % _context.suite, _context.finished_suite == _context.suite, "a script error stopped it: see the error above")


func _finish() -> void:
	if _finished:
		return
	_finished = true
	print("%d passed, %d failed" % [_context.passed, _context.failed])
	for failure: String in _context.failures:
		print("  failed: %s" % failure)
	quit(0 if _context.failed == 0 else 1)


static func _knows_class(class_title: String) -> bool:
	for entry: Dictionary in ProjectSettings.get_global_class_list():
		if str(entry.get("class", "")) == class_title:
			return true
	return false


func _on_timeout() -> void:
	if _finished:
		return
	_finished = true
	print("timed out after %d s in %s (a test hung, or a script error stopped an awaited test)" % [int(OVERALL_TIMEOUT_S), _context.suite])
	print("%d passed, %d failed" % [_context.passed, _context.failed + 1])
	quit(1)
