extends RefCounted
## Live tests against the api at AGENTVM_TEST_URL with the key AGENTVM_API_KEY (default
## development-key): connect, a 4xx as an error result, create, assign and see task_completed
## over the socket, the first plugin's run_agent(), collaboration, cancel, positions, reconnect
## and resume with since, the original /agent/run, delete.

const TestContext := preload("res://tests/test_context.gd")
const TASK_TIMEOUT_S := 90.0


func run(t: TestContext) -> void:
	var url := OS.get_environment("AGENTVM_TEST_URL")
	var key := OS.get_environment("AGENTVM_API_KEY")
	if key == "":
		key = "development-key"
	var manager := AgentVMManager.new()
	manager.log_errors = false
	t.tree.root.add_child(manager)
	await t.tree.process_frame
	var seen := {
		"agent_created": [], "agent_moved": [], "agent_deleted": [], "task_started": [], "task_progress": [],
		"task_completed": [], "task_failed": [], "task_cancelled": [], "errors": [],
	}
	manager.agent_created.connect(func(agent: Dictionary) -> void: (seen["agent_created"] as Array).append(AgentVMJson.string_of(agent, "id")))
	manager.agent_moved.connect(func(agent_id: String, _position: Vector3, _rotation_y: float) -> void: (seen["agent_moved"] as Array).append(agent_id))
	manager.agent_deleted.connect(func(agent_id: String) -> void: (seen["agent_deleted"] as Array).append(agent_id))
	manager.task_started.connect(func(task_id: String, _prompt: String) -> void: (seen["task_started"] as Array).append(task_id))
	manager.task_progress.connect(func(task_id: String, _progress: float) -> void: (seen["task_progress"] as Array).append(task_id))
	manager.task_completed.connect(func(task_id: String, _output: String) -> void: (seen["task_completed"] as Array).append(task_id))
	manager.task_failed.connect(func(task_id: String, _error: String) -> void: (seen["task_failed"] as Array).append(task_id))
	manager.task_cancelled.connect(func(task_id: String, _reason: String) -> void: (seen["task_cancelled"] as Array).append(task_id))
	manager.error_occurred.connect(func(error: AgentVMResult) -> void: (seen["errors"] as Array).append(error.code))

	var ok: bool = await manager.connect_to_api(url, key)
	if not t.check("live: connect_to_api %s" % url, ok, str(manager.last_error)):
		manager.queue_free()
		t.done()
		return
	t.check("live: the event stream is live", manager.is_live())
	var info: AgentVMResult = await manager.test_connection()
	t.check("live: test_connection reports the API version", info.is_ok() and AgentVMJson.string_of(info.data_dict(), "version") != "", str(info))
	var game := "godot-tests-%d" % (Time.get_ticks_usec() % 100000000)
	var session: Variant = await manager.connect_game(game)
	t.check("live: connect_game opens a session", session is Dictionary and AgentVMJson.string_of(session, "session_id") != "", str(session))

	var bad: Variant = await manager.create_agent("no-such-type")
	# `bad as AgentVMResult` would stop the suite with "Invalid cast" if the api accepted the type
	# and create_agent() returned its id (a String): test the type first.
	var bad_result: AgentVMResult = bad if bad is AgentVMResult else null
	t.check("live: a 4xx is an error result naming the field", bad_result != null and bad_result.status == 400 and bad_result.code == "validation_failed" and bad_result.field() == "agent_type", str(bad))
	t.check("live: … and raised error_occurred", (seen["errors"] as Array).has("validation_failed"))

	var ada: Variant = await manager.create_agent("aider", {"name": "Ada", "position": Vector3(1.0, 0.0, 2.0)})
	var bo: Variant = await manager.create_agent("aider", {"name": "Bo"})
	t.check("live: create_agent returns the new ids", ada is String and bo is String and ada != "" and bo != "", "%s %s" % [ada, bo])
	var both_created: bool = await t.wait_until(func() -> bool: return (seen["agent_created"] as Array).has(ada) and (seen["agent_created"] as Array).has(bo), 10.0)
	t.check("live: agent_created for both", both_created)
	var listed: Variant = await manager.list_game_agents()
	t.check("live: list_game_agents", listed is Array and (listed as Array).size() == 2, str(listed))

	var task_id: Variant = await manager.assign_task(ada, "Fix the player movement bug", "debugging")
	t.check("live: assign_task returns the task id", task_id is String and task_id != "", str(task_id))
	var run_id := manager.run_agent("Fix the jump", "aider")
	var completed: Array = seen["task_completed"]
	var finished: bool = await t.wait_until(func() -> bool: return completed.has(task_id) and completed.has(run_id), TASK_TIMEOUT_S)
	t.check("live: task_completed arrives over the socket", completed.has(task_id), str(seen))
	t.check("live: the first plugin's run_agent() id gets task_completed", completed.has(run_id) and finished, str(seen))
	t.check("live: task_started and task_progress came for it", (seen["task_started"] as Array).has(task_id) and (seen["task_progress"] as Array).has(task_id))
	t.equal("live: get_task_status of the task", manager.get_task_status(task_id).get("status"), "completed")
	t.equal("live: get_task_status of the run (first plugin's view)", manager.get_task_status(run_id).get("status"), "completed")
	var status: Variant = await manager.fetch_task_status(task_id)
	t.check("live: fetch_task_status", status is Dictionary and AgentVMJson.string_of(status, "status") == "completed", str(status))

	var team: Variant = await manager.assign_collaborative_task("Implement multiplayer networking", 2)
	t.check("live: assign_collaborative_task returns the parent and one id per member", team is Array and (team as Array).size() == 3, str(team))

	var waiting: Variant = await manager.assign_task("", "Wait for a custom agent", "general", {"preferred_type": "custom"})
	var cancelled: Variant = await manager.cancel_task(str(waiting))
	t.check("live: cancel_task", cancelled is Dictionary and AgentVMJson.string_of(cancelled, "status") == "cancelled", str(cancelled))
	var cancel_seen: bool = await t.wait_until(func() -> bool: return (seen["task_cancelled"] as Array).has(waiting), 10.0)
	t.check("live: task_cancelled", cancel_seen)
	var again: Variant = await manager.cancel_task(str(waiting))
	var again_result: AgentVMResult = again if again is AgentVMResult else null
	t.check("live: cancelling a finished task is a 409 error result", again_result != null and again_result.status == 409 and again_result.code == "conflict", str(again))

	manager.update_agent_position(str(ada), Vector3(5.0, 0.0, 6.0), 0.5)
	var flushed: Variant = await manager.flush_positions()
	t.check("live: flush_positions sends the batch", flushed is Dictionary and AgentVMJson.int_of(flushed, "updated") == 1, str(flushed))
	var moved: bool = await t.wait_until(func() -> bool: return (seen["agent_moved"] as Array).has(ada), 10.0)
	t.check("live: agent_moved comes back over the socket", moved)
	t.check("live: the cached agent has the new position", AgentVMJson.vector3_of(manager.get_cached_agent(str(ada)), "position").is_equal_approx(Vector3(5.0, 0.0, 6.0)))

	# Reconnect and resume: an agent created while the stream is down arrives once, from the replay.
	var socket: AgentVMSocket = manager._socket  # the stream itself (test-only access)
	var since_before := socket.stream.since()
	socket.close_socket()
	var down: bool = await t.wait_until(func() -> bool: return not manager.is_live(), 10.0)
	t.check("live: the stream closes", down)
	var other := AgentVMRestClient.new()
	other.endpoint = url
	other.api_key = key
	t.tree.root.add_child(other)
	await t.tree.process_frame
	var missed: AgentVMResult = await other.send(AgentVMRequests.create_agent("opencode", {"name": "Missed"}, game))
	var missed_id := AgentVMJson.string_of(missed.data_dict(), "id")
	t.check("live: an agent created while the stream was down", missed.is_ok(), str(missed))
	socket.open_socket()
	var resumed: bool = await t.wait_until(func() -> bool: return (seen["agent_created"] as Array).has(missed_id), 15.0)
	t.check("live: reconnecting resumes with since: the missed agent_created arrives", resumed)
	for frame: int in 30:
		await t.tree.process_frame
	t.equal("live: … exactly once", (seen["agent_created"] as Array).count(missed_id), 1)
	t.check("live: the stream's since moved forward", socket.stream.since() > since_before, "%d → %d" % [since_before, socket.stream.since()])

	# The original AgentVM API needs an agent of the type outside any game.
	await other.send(AgentVMRequests.create_agent("aider", {"name": "Outside"}, ""))
	var original: Variant = await manager.run_agent_and_wait("Fix the jump", "aider", "", 60)
	var keys: Array = (original as Dictionary).keys() if original is Dictionary else []
	keys.sort()
	t.equal("live: POST /agent/run answers the original five keys", keys, ["error", "returncode", "stderr", "stdout", "success"])

	var deleted: Variant = await manager.delete_agent(str(bo))
	t.check("live: delete_agent", deleted is bool and deleted == true, str(deleted))
	var deleted_seen: bool = await t.wait_until(func() -> bool: return (seen["agent_deleted"] as Array).has(bo), 10.0)
	t.check("live: agent_deleted", deleted_seen)
	manager.disconnect_from_api()
	other.queue_free()
	manager.queue_free()
	await t.tree.process_frame
	t.done()
