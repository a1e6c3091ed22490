extends RefCounted
## Event dispatch: the fixture's sequences go through the event stream and AgentVMState, and the
## signals they imply must be the fixture's; plus REST answers, run_agent() ids, the first
## plugin's views and the agent snapshot diff.

const TestContext := preload("res://tests/test_context.gd")
const NOW := 1764000000.0


func run(t: TestContext) -> void:
	_fixture_sequences(t)
	_rest_answers(t)
	_run_agent(t)
	_snapshots(t)
	_history(t)
	_rules(t)
	t.done()


func _fixture_sequences(t: TestContext) -> void:
	for sequence: Dictionary in AgentVMJson.objects_of(AgentVMJson.dict_of(t.fixtures(), "websocket"), "sequences"):
		var sequence_name := AgentVMJson.string_of(sequence, "name")
		var stream := AgentVMEventStream.new()
		stream.last_seq = AgentVMJson.int_of(sequence, "initial_last_seq", -1)
		var state := AgentVMState.new()
		for run_spec: Variant in AgentVMJson.array_of(sequence, "register_runs"):
			var spec: Array = run_spec
			state.register_run(str(spec[0]), str(spec[1]), str(spec[2]), NOW)
		for step: Dictionary in AgentVMJson.objects_of(sequence, "steps"):
			var frame_name := AgentVMJson.string_of(step, "frame")
			var received := stream.receive(t.frame_text(frame_name))
			var notes: Array[Dictionary] = []
			if received["kind"] == AgentVMEventStream.KIND_EVENT:
				notes = state.apply_event(received["frame"], NOW)
			_expect_signals(t, "%s / %s" % [sequence_name, frame_name], notes, AgentVMJson.array_of(step, "signals"))
		var compat := AgentVMJson.dict_of(sequence, "compat_status")
		if not compat.is_empty():
			var view := state.compat_status(AgentVMJson.string_of(compat, "id"))
			for key: String in compat:
				t.equal("%s: get_task_status().%s" % [sequence_name, key], view.get(key), compat[key])


## Compares notes with the fixture's expected signals: [name, arg, …], where an object argument
## lists the keys the emitted Dictionary must have (or is {x, y, z} for a Vector3).
func _expect_signals(t: TestContext, label: String, notes: Array[Dictionary], expected: Array) -> void:
	var emitted: Array[Dictionary] = []
	for note: Dictionary in notes:
		if not str(note["signal"]).begins_with("_"):
			emitted.append(note)
	var names: Array = []
	for note: Dictionary in emitted:
		names.append(note["signal"])
	var expected_names: Array = []
	for entry: Variant in expected:
		expected_names.append((entry as Array)[0])
	if not t.equal("%s: signals" % label, names, expected_names):
		return
	for index: int in emitted.size():
		var args: Array = emitted[index]["args"]
		var wanted: Array = (expected[index] as Array).slice(1)
		t.check("%s: %s has %d arguments" % [label, names[index], wanted.size()], args.size() == wanted.size(), str(args))
		for position: int in mini(args.size(), wanted.size()):
			t.check("%s: %s argument %d" % [label, names[index], position], _matches(args[position], wanted[position]), "got %s, expected %s" % [args[position], wanted[position]])


static func _matches(actual: Variant, wanted: Variant) -> bool:
	if actual is Vector3 and wanted is Dictionary:
		return (actual as Vector3).is_equal_approx(AgentVMJson.vector3_of({"v": wanted}, "v"))
	if actual is Dictionary and wanted is Dictionary:
		var emitted: Dictionary = actual
		for key: Variant in wanted:
			if not TestContext.same(emitted.get(key), wanted[key]):
				return false
		return true
	return TestContext.same(actual, wanted)


func _rest_answers(t: TestContext) -> void:
	var state := AgentVMState.new()
	var task := t.frame("task_created")["data"]["task"] as Dictionary
	var id := AgentVMJson.string_of(task, "id")
	_names(t, "a REST answer for a new task notifies task_updated", state.apply_task(task, NOW), ["task_updated"])
	var running := {"id": id, "status": "running", "progress": 0.2, "message": null, "agent_id": null, "attempts": 1, "result": null, "error": null, "updated_at": "x"}
	_names(t, "a status answer that moves it to running", state.apply_task(running, NOW), ["task_started", "task_progress", "task_updated"])
	var stale := running.duplicate()
	stale["status"] = "queued"
	_names(t, "an older answer (queued after running) is ignored", state.apply_task(stale, NOW), [])
	var retried := stale.duplicate()
	retried["attempts"] = 2
	_names(t, "queued again with more attempts is a retry", state.apply_task(retried, NOW), ["task_updated"])
	var completed := {"id": id, "status": "completed", "progress": 1.0, "result": "all green", "attempts": 2}
	_names(t, "completed", state.apply_task(completed, NOW), ["task_completed", "task_updated"])
	_names(t, "nothing changes a finished task", state.apply_event(t.frame("task_started"), NOW), [])
	t.equal("a string result is the output", state.compat_status(id)["output"], "all green")


func _run_agent(t: TestContext) -> void:
	var state := AgentVMState.new()
	state.register_run("task_1", "Fix it", "aider", NOW)
	t.equal("a pending run shows as pending", state.compat_status("task_1")["status"], "pending")
	t.equal("a pending run is active", state.active_task_ids(), ["task_1"])
	t.equal("a pending run has no server id yet", state.server_id("task_1"), "")
	var answer := {"id": "server-1", "status": "queued", "description": "Fix it", "metadata": {"client_ref": "task_1"}}
	var notes := state.link_run("task_1", answer, NOW)
	t.check("the POST answer links the ids", state.server_id("task_1") == "server-1" and state.public_id("server-1") == "task_1")
	t.equal("task_updated carries both ids", [notes[0]["args"][0]["id"], notes[0]["args"][0]["task_id"]], ["task_1", "server-1"])
	_names(t, "the event for the same task later is no news", state.apply_event(_task_event("task.created", answer), NOW), ["task_updated"])
	var cancelled := state.apply_event({"seq": 9, "type": "task.cancelled", "data": {"task_id": "server-1", "agent_id": null, "reason": "cancelled_by_user"}}, NOW)
	_names(t, "a cancelled run raises task_cancelled and, as the first plugin did, task_failed", cancelled, ["task_cancelled", "task_failed", "task_updated"])
	t.equal("… with the reason", cancelled[1]["args"], ["task_1", "Cancelled: cancelled_by_user"])
	t.equal("the first plugin's status of a cancelled run is failed", state.compat_status("task_1")["status"], "failed")

	state.register_run("task_2", "Never sent", "claude", NOW)
	_names(t, "a run whose request failed raises task_failed", state.fail_run("task_2", "cannot reach the api", NOW + 1.0), ["task_failed"])
	t.equal("… and shows in the history", state.history(1)[0]["id"], "task_2")
	t.equal("… with the error", state.compat_status("task_2")["error"], "cannot reach the api")
	t.check("… and is not active", not state.active_task_ids().has("task_2"))


func _snapshots(t: TestContext) -> void:
	var state := AgentVMState.new()
	var ada := t.frame("agent_created")["data"]["agent"] as Dictionary
	_names(t, "a new agent in a snapshot is created", state.replace_agents([ada]), ["agent_created"])
	_names(t, "the same snapshot changes nothing", state.replace_agents([ada]), [])
	var moved_busy := ada.duplicate(true)
	moved_busy["status"] = "busy"
	moved_busy["activity"] = "coding"
	moved_busy["position"] = {"x": 9, "y": 0, "z": 9}
	_names(t, "a snapshot with a new status and position", state.replace_agents([moved_busy]), ["agent_state_changed", "agent_moved"])
	_names(t, "an agent missing from a snapshot is deleted", state.replace_agents([]), ["agent_deleted"])
	var unknown := state.apply_event(t.frame("agent_state_changed"), NOW)
	t.equal("a state change of an unknown agent asks the manager to fetch it", unknown[0]["signal"], "_fetch_agent")
	t.check("has_available_agent", not state.has_available_agent("aider"))
	state.upsert_agent(ada)
	t.check("has_available_agent after an idle aider appeared", state.has_available_agent("aider"))
	state.apply_event(t.frame("agent_moved"), NOW)
	t.check("agent.moved updates the cached agent", AgentVMJson.vector3_of(state.agents[AgentVMJson.string_of(ada, "id")], "position") == Vector3(3.0, 0.0, 4.0))


func _history(t: TestContext) -> void:
	var state := AgentVMState.new()
	for index: int in AgentVMState.HISTORY_LIMIT + 5:
		var id := "t%d" % index
		state.apply_task({"id": id, "status": "queued", "description": "task %d" % index}, NOW + index)
		state.watch(id)
		state.apply_task({"id": id, "status": "completed", "result": {"summary": "s%d" % index}}, NOW + index)
	t.equal("history is newest first", state.history(2)[0]["id"], "t%d" % (AgentVMState.HISTORY_LIMIT + 4))
	t.equal("history respects the limit", state.history(3).size(), 3)
	t.equal("old finished tasks are forgotten", state.get_task("t0"), {})
	t.equal("no open tasks to poll", state.watched_open_ids(10), [])
	state.apply_task({"id": "open", "status": "running"}, NOW)
	state.watch("open")
	t.equal("followed open tasks are polled", state.watched_open_ids(10), ["open"])
	state.clear_history()
	t.equal("clear_history", state.history(-1).size(), 0)


func _rules(t: TestContext) -> void:
	t.equal("output_of: stdout first", AgentVMState.output_of({"stdout": "out", "summary": "s"}), "out")
	t.equal("output_of: summary", AgentVMState.output_of({"summary": "s", "steps": 3}), "s")
	t.equal("output_of: other results as JSON", AgentVMState.output_of({"n": 1}), JSON.stringify({"n": 1}))
	t.equal("output_of: null is empty", AgentVMState.output_of(null), "")
	t.equal("error_message_of a task error", AgentVMState.error_message_of({"code": "timeout", "message": "too slow"}), "too slow")
	t.equal("error_message_of a string", AgentVMState.error_message_of("boom"), "boom")
	t.equal("compat status names", [AgentVMState.compat_status_name("queued"), AgentVMState.compat_status_name("assigned"), AgentVMState.compat_status_name("running"), AgentVMState.compat_status_name("cancelled")], ["pending", "pending", "running", "failed"])


func _names(t: TestContext, label: String, notes: Array[Dictionary], expected: Array) -> void:
	var names: Array = []
	for note: Dictionary in notes:
		names.append(note["signal"])
	t.equal(label, names, expected)


static func _task_event(event_type: String, task: Dictionary) -> Dictionary:
	return {"seq": 8, "type": event_type, "ts": "2026-11-22T23:12:10.000Z", "game_id": "demo", "data": {"task": task}}
