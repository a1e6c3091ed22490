extends RefCounted
## Every request of tests/fixtures/contract.json that the plugin sends is built here with
## AgentVMRequests, exactly as the manager builds it, and must equal the fixture's method, path,
## headers and body: the fixture the api's contract test replays is what goes on the wire.

const TestContext := preload("res://tests/test_context.gd")


func run(t: TestContext) -> void:
	var fixtures := t.fixtures()
	t.check("the fixture loads", not fixtures.is_empty())
	var requests := AgentVMJson.objects_of(fixtures, "requests")
	requests.append_array(AgentVMJson.objects_of(fixtures, "requests_without_body"))
	var built_count := 0
	for expected: Dictionary in requests:
		var request_name := AgentVMJson.string_of(expected, "name")
		var builder := AgentVMJson.dict_of(expected, "builder")
		if builder.is_empty():
			continue
		var built := _build(AgentVMJson.string_of(builder, "fn"), _args(AgentVMJson.array_of(builder, "args")))
		if not t.check("%s: builder %s exists" % [request_name, AgentVMJson.string_of(builder, "fn")], not built.is_empty()):
			continue
		built_count += 1
		t.equal("%s: method" % request_name, built["method"], AgentVMJson.string_of(expected, "method"))
		t.equal("%s: path" % request_name, built["path"], AgentVMJson.string_of(expected, "path"))
		var has_body: bool = built["body"] != null
		t.equal("%s: body" % request_name, built["body"] if has_body else null, expected.get("body"))
		var headers := AgentVMJson.dict_of(expected, "headers")
		var lines: PackedStringArray = []
		for header_name: String in headers:
			lines.append("%s: %s" % [header_name, headers[header_name]])
		t.equal("%s: headers" % request_name, AgentVMProtocol.rest_headers("{api_key}", has_body), lines)
	t.check("at least 20 requests are built from the fixture", built_count >= 20, str(built_count))

	var websocket := AgentVMJson.dict_of(fixtures, "websocket")
	var client_frames := AgentVMJson.dict_of(websocket, "client_frames")
	t.equal("ping frame", AgentVMJson.parse(AgentVMEventStream.ping_frame(1)), client_frames.get("ping"))
	t.equal("subscribe frame", AgentVMJson.parse(AgentVMEventStream.subscribe_frame("godot-contract", "agent.*,task.*")), client_frames.get("subscribe"))
	t.equal("subscribe without types leaves them out", AgentVMJson.parse(AgentVMEventStream.subscribe_frame("demo")), {"op": "subscribe", "game_id": "demo"})
	t.done()


static func _build(fn: String, a: Array) -> Dictionary:
	match fn:
		"health":
			return AgentVMRequests.health()
		"whoami":
			return AgentVMRequests.whoami()
		"connect_game":
			return AgentVMRequests.connect_game(a[0], a[1], a[2], a[3])
		"disconnect_game":
			return AgentVMRequests.disconnect_game(a[0])
		"create_agent":
			return AgentVMRequests.create_agent(a[0], a[1], a[2])
		"get_agent":
			return AgentVMRequests.get_agent(a[0])
		"delete_agent":
			return AgentVMRequests.delete_agent(a[0])
		"game_agents":
			return AgentVMRequests.game_agents(a[0])
		"list_agents":
			return AgentVMRequests.list_agents(a[0])
		"update_position":
			return AgentVMRequests.update_position(a[0], a[1], a[2], a[3])
		"update_positions":
			var entries: Array[Dictionary] = []
			for entry: Variant in a[0]:
				entries.append(entry)
			return AgentVMRequests.update_positions(entries)
		"assign_task":
			return AgentVMRequests.assign_task(a[0], a[1], a[2], a[3], a[4])
		"collaborative_task":
			return AgentVMRequests.collaborative_task(a[0], a[1], a[2], a[3])
		"run_task":
			return AgentVMRequests.run_task(a[0], a[1], a[2], a[3], a[4], a[5])
		"agent_run":
			return AgentVMRequests.agent_run(a[0], a[1], a[2], a[3])
		"task_status":
			return AgentVMRequests.task_status(a[0])
		"get_task":
			return AgentVMRequests.get_task(a[0])
		"cancel_task":
			return AgentVMRequests.cancel_task(a[0])
	return {}


## The fixture's arguments as a GDScript caller passes them: whole numbers as int (JSON has
## only numbers), {"vector3": [x, y, z]} as Vector3, {"position_batch": [...]} as the entry
## AgentVMPositionBatch makes.
static func _args(values: Array) -> Array:
	var converted: Array = []
	for value: Variant in values:
		converted.append(_arg(value))
	return converted


static func _arg(value: Variant) -> Variant:
	if value is float and is_equal_approx(value, roundf(value)):
		return int(value)
	if value is Array:
		return _args(value)
	if value is Dictionary:
		var source: Dictionary = value
		if source.has("vector3"):
			var xyz: Array = source["vector3"]
			return Vector3(xyz[0], xyz[1], xyz[2])
		if source.has("position_batch"):
			var spec: Array = _args(source["position_batch"])
			var batch := AgentVMPositionBatch.new()
			batch.queue(spec[0], spec[1], spec[2])
			return batch.take()[0]
		var converted: Dictionary = {}
		for key: Variant in source:
			converted[key] = _arg(source[key])
		return converted
	return value
