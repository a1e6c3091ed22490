extends RefCounted
## Position coalescing, the settings table (names, defaults, the key's precedence) and the
## level-of-detail rules.

const TestContext := preload("res://tests/test_context.gd")


func run(t: TestContext) -> void:
	_positions(t)
	_settings(t)
	_lod(t)
	t.done()


func _positions(t: TestContext) -> void:
	var batch := AgentVMPositionBatch.new()
	batch.queue("a", Vector3(1.0, 0.0, 1.0), 0.0)
	batch.queue("b", Vector3(2.0, 0.0, 2.0), 0.0)
	batch.queue("a", Vector3(3.0, 0.0, 3.0), 1.0)
	t.equal("positions coalesce per agent", batch.size(), 2)
	var taken := batch.take()
	t.equal("the latest position of each agent is sent", taken[0], {"agent_id": "a", "x": 3.0, "y": 0.0, "z": 3.0, "rotation_y": 1.0})
	t.check("take empties the batch", batch.is_empty())
	batch.queue("a", Vector3(9.0, 0.0, 9.0), 0.0)
	batch.requeue(taken)
	t.equal("a failed batch comes back without overriding newer positions", [batch.size(), batch.take()[0]["x"]], [2, 9.0])
	for index: int in 1500:
		batch.queue("agent-%d" % index, Vector3.ZERO, 0.0)
	t.equal("one call carries at most 1,000 agents", batch.take().size(), AgentVMRequests.MAX_POSITIONS_PER_CALL)
	t.equal("the rest waits for the next call", batch.size(), 500)
	batch.clear("agent-1499")
	t.equal("clear(agent) drops one", batch.size(), 499)
	batch.clear()
	t.check("clear() drops all", batch.is_empty())
	batch.queue("s", Vector3.ONE, 0.5, "office")
	t.equal("a scene id is sent when given", batch.take()[0].get("scene_id"), "office")


func _settings(t: TestContext) -> void:
	var names: Array[String] = []
	for entry: Dictionary in AgentVMSettings.DEFINITIONS:
		var setting_name: String = entry["name"]
		names.append(setting_name)
		t.check("%s is under agentvm/" % setting_name, setting_name.begins_with("agentvm/"))
		t.equal("%s: the default has the declared type" % setting_name, typeof(entry["default"]), int(entry["type"]))
	for required: String in [AgentVMSettings.ENDPOINT, AgentVMSettings.API_KEY, AgentVMSettings.ENVIRONMENT, AgentVMSettings.AUTO_CONNECT, AgentVMSettings.DEFAULT_AGENT_TYPE,
			AgentVMSettings.AUTO_SPAWN, AgentVMSettings.EFFECTS, AgentVMSettings.ANIMATION_QUALITY, AgentVMSettings.POSITION_SEND_RATE, AgentVMSettings.NPC_UPDATE_RATE, AgentVMSettings.LOD_DISTANCE]:
		t.check("the setting %s exists" % required, names.has(required))
	t.equal("the default endpoint", AgentVMSettings.default_of(AgentVMSettings.ENDPOINT), "http://localhost:8000")
	t.equal("the environment variable wins over the setting", AgentVMSettings.resolve_api_key(" env-key ", "setting-key"), "env-key")
	t.equal("the setting when the variable is empty", AgentVMSettings.resolve_api_key("", "setting-key"), "setting-key")
	t.equal("coerce: an int setting stored as float", AgentVMSettings.coerce(3.0, 1), 3)
	t.equal("coerce: a wrong type falls back to the default", AgentVMSettings.coerce("fast", 10.0), 10.0)
	t.equal("a setting absent from project.godot reads as its default", AgentVMSettings.float_value(AgentVMSettings.LOD_DISTANCE), 30.0)
	t.equal("the project's endpoint setting", AgentVMSettings.endpoint(), "http://localhost:8000")


func _lod(t: TestContext) -> void:
	t.equal("near within the distance", AgentVMLod.level_for(10.0, 30.0), AgentVMLod.NEAR)
	t.equal("far beyond it", AgentVMLod.level_for(31.0, 30.0), AgentVMLod.FAR)
	t.equal("a distance of 0 turns LOD off", AgentVMLod.level_for(1000.0, 0.0), AgentVMLod.NEAR)
	t.equal("60 fps, 10 updates/s: every 6th frame", AgentVMLod.far_interval_frames(60.0, 10.0), 6)
	t.equal("never less than every frame", AgentVMLod.far_interval_frames(5.0, 10.0), 1)
	var due := 0
	for frame: int in 60:
		if AgentVMLod.is_due(AgentVMLod.FAR, frame, 3, 6):
			due += 1
	t.equal("a far NPC updates 10 times in 60 frames", due, 10)
	t.check("a near NPC updates every frame", AgentVMLod.is_due(AgentVMLod.NEAR, 7, 3, 6))
	var spread: Dictionary = {}
	for index: int in 6:
		for frame: int in 6:
			if AgentVMLod.is_due(AgentVMLod.FAR, frame, index, 6):
				spread[frame] = int(spread.get(frame, 0)) + 1
	t.equal("far NPCs are spread over frames", spread.size(), 6)
	t.equal("the first LOD slice", AgentVMLod.refresh_slice(250, 0, 100), Vector2i(0, 100))
	t.equal("the last LOD slice", AgentVMLod.refresh_slice(250, 2, 100), Vector2i(200, 250))
	t.equal("slices wrap around", AgentVMLod.refresh_slice(250, 3, 100), Vector2i(0, 100))
	t.equal("few NPCs: all in one slice", AgentVMLod.refresh_slice(50, 5, 100), Vector2i(0, 50))
