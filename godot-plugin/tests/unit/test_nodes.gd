extends RefCounted
## The nodes, without a server: the manager's signals and the first plugin's API surface, error
## results instead of nulls (not in the tree; an unreachable API), run_agent() returning at once,
## the socket turning fixture frames into signals, AgentWorld spawning and pooling NPCs (3D and
## 2D), and the NPC scenes themselves.

const TestContext := preload("res://tests/test_context.gd")
## A port nothing listens on: connections are refused at once.
const UNREACHABLE := "http://127.0.0.1:9"
const NPC_3D := "res://addons/agentvm/npc/agent_npc_3d.tscn"
const NPC_2D := "res://addons/agentvm/npc/agent_npc_2d.tscn"


func run(t: TestContext) -> void:
	_manager_surface(t)
	await _manager_offline(t)
	_socket_frames(t)
	await _world(t, NPC_3D)
	await _world(t, NPC_2D)
	await _npc_without_scene(t)
	t.done()


func _manager_surface(t: TestContext) -> void:
	var manager := AgentVMManager.new()
	var signals: Dictionary = {}
	for info: Dictionary in manager.get_signal_list():
		signals[info["name"]] = info["args"]
	var first_plugin := {
		"task_started": [TYPE_STRING, TYPE_STRING],
		"task_completed": [TYPE_STRING, TYPE_STRING],
		"task_failed": [TYPE_STRING, TYPE_STRING],
		"task_progress": [TYPE_STRING, TYPE_FLOAT],
		"connection_status_changed": [TYPE_BOOL],
		"task_updated": [TYPE_DICTIONARY],
	}
	for signal_name: String in first_plugin:
		var types: Array = []
		for arg: Dictionary in signals.get(signal_name, []):
			types.append(arg["type"])
		t.equal("signal %s keeps the first plugin's signature" % signal_name, types, first_plugin[signal_name])
	for signal_name: String in ["connected", "disconnected", "error_occurred", "agent_created", "agent_state_changed", "agent_moved", "agent_deleted", "task_cancelled", "event_received"]:
		t.check("signal %s exists" % signal_name, signals.has(signal_name))
	# Every signal the dispatcher asks for exists with that many arguments.
	var state := AgentVMState.new()
	state.register_run("task_1764000000_1", "Fix any errors or warnings in the current code", "aider", 0.0)
	for frame_name: String in ["agent_created", "task_created", "task_started", "agent_state_changed", "task_progress", "task_completed", "agent_moved",
			"run_task_created", "run_task_started", "task_failed", "task_cancelled", "agent_deleted"]:
		for note: Dictionary in state.apply_event(t.frame(frame_name), 0.0):
			var note_name: String = note["signal"]
			if note_name.begins_with("_"):
				continue
			var args: Array = note["args"]
			t.check("%s → signal %s(%d args)" % [frame_name, note_name, args.size()], signals.has(note_name) and (signals[note_name] as Array).size() == args.size())
	for method: String in ["connect_to_api", "test_connection", "connect_game", "create_agent", "get_agent", "list_game_agents", "update_agent_position", "delete_agent",
			"assign_task", "assign_collaborative_task", "cancel_task", "get_task_status", "fetch_task_status", "get_task", "get_active_tasks", "get_task_history",
			"run_agent", "run_agent_and_wait", "quick_fix_errors", "quick_add_comments", "quick_refactor", "quick_add_tests", "quick_optimize", "disconnect_from_api"]:
		t.check("method %s exists" % method, manager.has_method(method))
	manager.api_url = "http://example.test:8000/"
	t.equal("api_url (the first plugin's name) sets the endpoint", manager.endpoint, "http://example.test:8000")
	manager.free()


func _manager_offline(t: TestContext) -> void:
	# No retries here: the point is what a failure looks like, not how long retrying takes.
	var had_retries := ProjectSettings.has_setting(AgentVMSettings.RETRY_ATTEMPTS)
	var retries: Variant = ProjectSettings.get_setting(AgentVMSettings.RETRY_ATTEMPTS, 3)
	ProjectSettings.set_setting(AgentVMSettings.RETRY_ATTEMPTS, 0)
	var manager := AgentVMManager.new()
	manager.log_errors = false
	var errors: Array[AgentVMResult] = []
	manager.error_occurred.connect(func(error: AgentVMResult) -> void: errors.append(error))

	var created: Variant = await manager.create_agent("aider")
	t.check("outside the tree, create_agent returns an error result (not null)", created is AgentVMResult and (created as AgentVMResult).code == AgentVMResult.NOT_IN_TREE, str(created))
	t.equal("… and emits error_occurred", errors.size(), 1)
	var passed_on: Variant = await manager.assign_task(created, "Fix the jump", "debugging")
	t.check("assign_task hands a failed create_agent's error on", passed_on == created)

	t.tree.root.add_child(manager)
	await t.tree.process_frame
	manager.configure(UNREACHABLE, "some-key")
	var diagnosis: AgentVMResult = await manager.test_connection()
	t.equal("test_connection of a closed port: unreachable", diagnosis.code, AgentVMResult.UNREACHABLE)
	var ok: bool = await manager.connect_to_api()
	t.check("connect_to_api returns false and says why", not ok and manager.last_error != null and manager.last_error.code == AgentVMResult.UNREACHABLE)
	t.check("… and the stream was not opened", not manager.is_live())

	var failed_ids: Array[String] = []
	manager.task_failed.connect(func(task_id: String, _error: String) -> void: failed_ids.append(task_id))
	var run_id := manager.run_agent("Fix the jump")
	t.check("run_agent returns a task id at once", run_id.begins_with("task_"), run_id)
	t.check("… active while its request is on its way", manager.get_active_tasks().has(run_id))
	t.equal("… pending in the first plugin's view", manager.get_task_status(run_id).get("status"), "pending")
	var reported: bool = await t.wait_until(func() -> bool: return failed_ids.has(run_id), 40.0)
	t.check("a run_agent() whose request fails raises task_failed(task_id, error)", reported)
	t.equal("… and is failed in the first plugin's view", manager.get_task_status(run_id).get("status"), "failed")
	t.equal("… and in the history", manager.get_task_history(1).size(), 1)
	t.check("run_agent refuses an empty prompt", manager.run_agent("  ") == "")
	t.check("update_agent_position refuses an empty id", not manager.update_agent_position("", Vector3.ZERO))
	t.equal("get_task_status of an unknown task is {}", manager.get_task_status("no-such-task"), {})
	var listed: Variant = await manager.list_game_agents()
	t.check("list_game_agents without a game is an error result", listed is AgentVMResult and (listed as AgentVMResult).code == AgentVMResult.INVALID_ARGUMENT)
	manager.queue_free()
	await t.tree.process_frame
	if had_retries:
		ProjectSettings.set_setting(AgentVMSettings.RETRY_ATTEMPTS, retries)
	else:
		ProjectSettings.set_setting(AgentVMSettings.RETRY_ATTEMPTS, null)
	var rest := AgentVMRestClient.new()
	var outside: AgentVMResult = await rest.send(AgentVMRequests.health())
	t.equal("a REST client outside the tree answers not_in_tree", outside.code, AgentVMResult.NOT_IN_TREE)
	rest.free()


func _socket_frames(t: TestContext) -> void:
	var socket := AgentVMSocket.new()
	var events: Array[String] = []
	var gaps: Array[String] = []
	var errors: Array[String] = []
	socket.event_received.connect(func(event: Dictionary) -> void: events.append(AgentVMJson.string_of(event, "type")))
	socket.replay_gap.connect(func(message: String) -> void: gaps.append(message))
	socket.error_received.connect(func(code: String, _message: String) -> void: errors.append(code))
	for frame_name: String in ["hello", "agent_created", "task_created", "task_created", "agent_moved", "agent_moved", "pong", "subscribed", "bad_frame", "replay_gap"]:
		socket.handle_text(t.frame_text(frame_name))
	t.equal("the socket turns frames into signals: durable events once, volatile ones each time", events, ["agent.created", "task.created", "agent.moved", "agent.moved"])
	t.equal("… replay_gap as its own signal", gaps.size(), 1)
	t.equal("… and error frames", errors, ["bad_frame"])
	t.equal("after replay_gap the stream continues from the server's last seq", socket.stream.since(), 14)
	t.check("a socket never opened is not open", not socket.is_open() and not socket.is_wanted())
	socket.free()


func _world(t: TestContext, scene_path: String) -> void:
	var label := scene_path.get_file().get_basename()
	var manager := AgentVMManager.new()
	manager.log_errors = false
	var world := AgentWorld.new()
	world.npc_scene = load(scene_path) as PackedScene
	world.pool_size = 4
	world.bind(manager)
	t.tree.root.add_child(world)
	var agent := t.frame("agent_created")["data"]["agent"] as Dictionary
	var id := AgentVMJson.string_of(agent, "id")
	manager.agent_created.emit(agent)
	t.equal("%s: an NPC per agent" % label, world.npc_count(), 1)
	var npc := world.get_npc(id)
	t.check("%s: the NPC shows the agent" % label, npc != null and str(npc.get("display_name")) == "Ada")
	var before := _distance_to(npc, Vector3(3.0, 0.0, 4.0))
	manager.agent_moved.emit(id, Vector3(3.0, 0.0, 4.0), 1.5)
	t.check("%s: agent_moved sets the target" % label, npc.get("target_position") == Vector3(3.0, 0.0, 4.0))
	manager.agent_state_changed.emit(id, "busy", "coding")
	t.equal("%s: agent_state_changed sets the status" % label, npc.get("status"), "busy")
	manager.task_updated.emit({"id": "t1", "agent_id": id, "status": "running", "description": "Fix the jump", "progress": 0.5})
	t.equal("%s: task_updated shows the task and its progress" % label, [npc.get("task_text"), npc.get("progress")], ["Fix the jump", 0.5])
	for frame: int in 10:
		await t.tree.process_frame
	t.check("%s: the world moves the NPC toward its target" % label, _distance_to(npc, Vector3(3.0, 0.0, 4.0)) < before)
	manager.task_updated.emit({"id": "t1", "agent_id": id, "status": "completed", "description": "Fix the jump", "progress": 1.0})
	t.equal("%s: a finished task hides the bubble" % label, npc.get("task_text"), "")
	manager.agent_deleted.emit(id)
	t.equal("%s: agent_deleted removes the NPC" % label, world.npc_count(), 0)
	t.equal("%s: … into the pool" % label, world.pooled_count(), 1)
	manager.agent_created.emit(agent)
	t.check("%s: the next agent reuses the pooled instance" % label, world.get_npc(id) == npc and world.pooled_count() == 0)
	for index: int in 300:
		manager.agent_created.emit({"id": "bulk-%d" % index, "name": "n%d" % index, "status": "idle", "position": {"x": index % 30, "y": 0, "z": floori(index / 30.0)}})
	for frame: int in 3:
		await t.tree.process_frame
	t.equal("%s: 301 NPCs" % label, world.npc_count(), 301)
	world.clear()
	t.equal("%s: clear() keeps pool_size instances" % label, world.pooled_count(), 4)
	world.queue_free()
	manager.free()
	await t.tree.process_frame


func _npc_without_scene(t: TestContext) -> void:
	var npc := AgentNPC3D.new()
	t.tree.root.add_child(npc)
	npc.apply_agent(t.frame("agent_created")["data"]["agent"] as Dictionary)
	var name_label := npc.get_node_or_null("NameLabel") as Label3D
	t.check("AgentNPC3D.new() builds its parts", name_label != null and npc.get_node_or_null("Body") != null)
	t.equal("… and shows the name", name_label.text if name_label != null else "", "Ada")
	npc.set_state("busy", "coding", "refactoring")
	npc.set_task("Fix the jump", 0.5)
	var task_label := npc.get_node_or_null("TaskLabel") as Label3D
	t.check("the task bubble shows the progress", task_label != null and task_label.text.contains("50%"), task_label.text if task_label != null else "")
	npc.set_lod(AgentVMLod.FAR)
	t.check("far away the labels hide", name_label != null and not name_label.visible)
	npc.set_lod(AgentVMLod.NEAR)
	t.check("near they show again", name_label != null and name_label.visible)
	npc.set_target(Vector3(100.0, 0.0, 0.0), 0.0)
	t.check("a far jump snaps instead of gliding", npc.position.is_equal_approx(Vector3(100.0, 0.0, 0.0)))
	npc.reset()
	t.equal("reset clears the NPC for the pool", [npc.agent_id, npc.task_text], ["", ""])
	npc.queue_free()
	await t.tree.process_frame


static func _distance_to(npc: Node, target: Vector3) -> float:
	if npc is Node3D:
		return (npc as Node3D).position.distance_to(target)
	if npc is Node2D:
		return (npc as Node2D).position.distance_to(Vector2(target.x, target.z) * float(npc.get("world_scale")))
	return 0.0
