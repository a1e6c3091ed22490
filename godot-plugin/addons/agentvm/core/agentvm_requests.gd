@tool
class_name AgentVMRequests
extends RefCounted
## Every request the plugin sends, built as {"method", "path", "body"} (body null when there is
## none). Pure: tests/fixtures/contract.json lists the same requests, and the tests build each one
## here and compare, so the fixture is exactly what goes on the wire. Ids go into paths as they
## are: agent and task ids are UUIDs and game ids are slugs, URL-safe by the contract.

## The metadata key that ties a task to the run_agent() call that created it.
const CLIENT_REF_KEY := "client_ref"
## metadata.source of the plugin's run_agent() tasks.
const RUN_SOURCE := "godot.run_agent"
## Most agents one PUT /agents/positions may carry (the API's limit).
const MAX_POSITIONS_PER_CALL := 1000


## GET /health: liveness and the API version (no key needed).
static func health() -> Dictionary:
	return _request("GET", "/health")


## GET /auth/whoami: the calling key (checks the key).
static func whoami() -> Dictionary:
	return _request("GET", "/auth/whoami")


## POST /game/connect: opens a session of a game; options may add name, metadata.
static func connect_game(game_id: String, scene_id: String, engine_version: String, options: Dictionary = {}) -> Dictionary:
	var body := options.duplicate(true)
	body["game_id"] = game_id
	body["engine"] = "godot"
	if engine_version != "":
		body["engine_version"] = engine_version
	if scene_id != "":
		body["scene_id"] = scene_id
	return _request("POST", "/game/connect", body)


## POST /game/disconnect: closes a session.
static func disconnect_game(session_id: String) -> Dictionary:
	return _request("POST", "/game/disconnect", {"session_id": session_id})


## POST /agents/create. Options: name, personality, capabilities, position (Vector3 or {x,y,z}),
## rotation_y, scene_id, metadata, game_id (default: the connected game).
static func create_agent(agent_type: String, options: Dictionary, game_id: String) -> Dictionary:
	var body := _with_positions(options)
	body["agent_type"] = agent_type
	if game_id != "" and not body.has("game_id"):
		body["game_id"] = game_id
	return _request("POST", "/agents/create", body)


## GET /agents/{agent_id}.
static func get_agent(agent_id: String) -> Dictionary:
	return _request("GET", "/agents/%s" % agent_id)


## DELETE /agents/{agent_id}: its open tasks are cancelled.
static func delete_agent(agent_id: String) -> Dictionary:
	return _request("DELETE", "/agents/%s" % agent_id)


## GET /game/agents/{game_id}: every agent of a game.
static func game_agents(game_id: String) -> Dictionary:
	return _request("GET", "/game/agents/%s" % game_id)


## GET /agents with filters (agent_type, game_id, status, limit, cursor).
static func list_agents(filters: Dictionary) -> Dictionary:
	return _request("GET", "/agents" + AgentVMProtocol.query_string(filters))


## PUT /agents/{agent_id}/position: moves one agent.
static func update_position(agent_id: String, position: Vector3, rotation_y: float, scene_id: String = "") -> Dictionary:
	var body := {"x": position.x, "y": position.y, "z": position.z, "rotation_y": rotation_y}
	if scene_id != "":
		body["scene_id"] = scene_id
	return _request("PUT", "/agents/%s/position" % agent_id, body)


## PUT /agents/positions: moves many agents in one call; entries as AgentVMPositionBatch makes them.
static func update_positions(entries: Array[Dictionary]) -> Dictionary:
	return _request("PUT", "/agents/positions", {"positions": entries})


## POST /tasks/assign. An empty agent_id lets the server pick an eligible agent in the game.
## Options: priority ("low".."critical" or the original 0–1 number), preferred_type,
## required_capabilities, depends_on, timeout_s, max_attempts, metadata, game_id.
static func assign_task(agent_id: String, description: String, task_type: String, options: Dictionary, game_id: String) -> Dictionary:
	var body := options.duplicate(true)
	body["description"] = description
	if task_type != "":
		body["task_type"] = task_type
	if agent_id != "":
		body["agent_id"] = agent_id
	elif game_id != "" and not body.has("game_id"):
		# A targeted task lives in its agent's game; an untargeted one in the connected game.
		body["game_id"] = game_id
	return _request("POST", "/tasks/assign", body)


## POST /tasks/collaborative: a parent task and one subtask per team member.
static func collaborative_task(description: String, team_size: int, options: Dictionary, game_id: String) -> Dictionary:
	var body := options.duplicate(true)
	body["description"] = description
	body["team_size"] = team_size
	if game_id != "" and not body.has("game_id"):
		body["game_id"] = game_id
	return _request("POST", "/tasks/collaborative", body)


## POST /tasks/assign for the first plugin's run_agent(): a "run" task on an agent of the type,
## one attempt and the run timeout, exactly as the original /agent/run queues it, tagged with
## the id run_agent() returned so its events can be matched to it.
static func run_task(prompt: String, agent_type: String, repo_path: String, client_ref: String, timeout_s: int, game_id: String) -> Dictionary:
	var metadata := {"source": RUN_SOURCE, CLIENT_REF_KEY: client_ref}
	if repo_path != "":
		metadata["repo_path"] = repo_path
	var body := {
		"description": prompt,
		"task_type": "run",
		"preferred_type": agent_type,
		"max_attempts": 1,
		"timeout_s": timeout_s,
		"metadata": metadata,
	}
	if game_id != "":
		body["game_id"] = game_id
	return _request("POST", "/tasks/assign", body)


## POST /agent/run: the original AgentVM API, answered when the run ends with
## {success, stdout, stderr, returncode, error}.
static func agent_run(agent_type: String, prompt: String, repo_path: String, timeout_s: int) -> Dictionary:
	var body := {"agent": agent_type, "prompt": prompt, "timeout": timeout_s}
	if repo_path != "":
		body["repo_path"] = repo_path
	return _request("POST", "/agent/run", body)


## GET /tasks/{task_id}/status.
static func task_status(task_id: String) -> Dictionary:
	return _request("GET", "/tasks/%s/status" % task_id)


## GET /tasks/{task_id}: the whole task.
static func get_task(task_id: String) -> Dictionary:
	return _request("GET", "/tasks/%s" % task_id)


## POST /tasks/{task_id}/cancel (an empty JSON object: the API refuses an empty JSON body).
static func cancel_task(task_id: String) -> Dictionary:
	return _request("POST", "/tasks/%s/cancel" % task_id, {})


## HTTPClient's method constant for a method name.
static func http_method(method: String) -> HTTPClient.Method:
	match method:
		"POST":
			return HTTPClient.METHOD_POST
		"PUT":
			return HTTPClient.METHOD_PUT
		"DELETE":
			return HTTPClient.METHOD_DELETE
		"PATCH":
			return HTTPClient.METHOD_PATCH
		"HEAD":
			return HTTPClient.METHOD_HEAD
		_:
			return HTTPClient.METHOD_GET


static func _request(method: String, path: String, body: Variant = null) -> Dictionary:
	return {"method": method, "path": path, "body": body}


## The options with Vector3 positions turned into the contract's {x, y, z}.
static func _with_positions(options: Dictionary) -> Dictionary:
	var body := options.duplicate(true)
	var position: Variant = body.get("position")
	if position is Vector3:
		body["position"] = AgentVMJson.position_object(position)
	return body
