@tool
@icon("res://addons/agentvm/icon.svg")
class_name AgentVMManager
extends Node
## The AgentVM façade: connect a game to an AgentVM server, create agents, give them tasks, and
## follow everything as signals. The plugin registers it as the autoload [code]AgentVM[/code]
## ([code]/root/AgentVM[/code]); it also works as a node you create yourself:
## [codeblock]
## var agentvm := AgentVMManager.new()
## add_child(agentvm)
## await agentvm.connect_to_api("http://localhost:8000", "development-key")
## var agent_id: Variant = await agentvm.create_agent("aider")
## await agentvm.assign_task(agent_id, "Fix the player movement bug", "debugging")
## [/codeblock]
## Awaitable methods return their value on success and an [AgentVMResult] with
## [code]is_error() == true[/code] on failure (never a silent null); failures also raise
## [signal error_occurred]. The first AgentVM plugin's API (run_agent, the quick actions,
## get_task_status, get_active_tasks, get_task_history and its signals) works unchanged.

## The live event stream opened: events flow from now on.
signal connected
## The live event stream closed (it reconnects by itself unless the key was refused).
signal disconnected(reason: String)
## The first plugin's signal: true when connected (live), false when the connection dropped.
signal connection_status_changed(connected: bool)
## A call failed, or the stream reported a problem: the error with the API's code and message.
signal error_occurred(error: AgentVMResult)
## A game session opened (the answer of POST /game/connect).
signal game_connected(session: Dictionary)
## An agent appeared in the connected game (the API's agent object).
signal agent_created(agent: Dictionary)
## An agent's name, capabilities, personality or metadata changed.
signal agent_updated(agent: Dictionary)
## An agent's status (idle, busy, offline, error) or activity (thinking, coding, …) changed.
signal agent_state_changed(agent_id: String, status: String, activity: String)
## An agent moved (its server position).
signal agent_moved(agent_id: String, position: Vector3, rotation_y: float)
## An agent was deleted.
signal agent_deleted(agent_id: String)
## A task began running on its agent; [param prompt] is its description.
signal task_started(task_id: String, prompt: String)
## Progress (0–1) of a running task.
signal task_progress(task_id: String, progress: float)
## A task completed; [param output] is its stdout, output or summary (as /agent/run answers).
signal task_completed(task_id: String, output: String)
## A task failed for good (a failed attempt that will be retried does not count).
signal task_failed(task_id: String, error: String)
## A task was cancelled, with the reason.
signal task_cancelled(task_id: String, reason: String)
## Any change of a task, with everything known of it (the API's task fields; "id" is the id
## the caller knows it by, "task_id" the server's).
signal task_updated(task: Dictionary)
## Every event envelope {seq, type, ts, game_id, data} as it arrives.
signal event_received(event: Dictionary)

## The first plugin's quick actions and their prompts.
const QUICK_PROMPTS := {
	"fix_errors": "Fix any errors or warnings in the current code",
	"add_comments": "Add comprehensive comments and documentation to the code",
	"refactor": "Refactor the code to improve readability and maintainability",
	"add_tests": "Generate comprehensive unit tests for the current code",
	"optimize": "Optimize the code for better performance",
}
## Seconds connect_to_api() waits for the live stream before returning.
const STREAM_WAIT_S := 5.0
## While the stream is down, the open tasks this client created are polled this often.
const POLL_INTERVAL_S := 3.0
const POLL_BATCH := 20

## Push a warning for every failure (besides error_occurred). Turn off to handle errors yourself.
@export var log_errors: bool = true

## Base URL of the API; empty until connect_to_api() or the agentvm/api/endpoint setting.
var endpoint: String = ""
## The API key (default: AGENTVM_API_KEY, else agentvm/api/api_key).
var api_key: String = ""
## The first plugin's name for [member endpoint].
var api_url: String:
	get:
		return endpoint
	set(value):
		endpoint = AgentVMProtocol.normalize_endpoint(value)
## Agent type run_agent() and create_agent() use when none is given (agentvm/agents/default_agent_type).
var default_agent: String = "aider"
## Seconds a run_agent() task may run (the first plugin's default_timeout).
var default_timeout: int = 600
## The connected game ("" before connect_game()).
var game_id: String = ""
## The current game session's id.
var session_id: String = ""
## The last failure (also passed to error_occurred), or null.
var last_error: AgentVMResult = null

var _rest: AgentVMRestClient
var _socket: AgentVMSocket
var _state := AgentVMState.new()
var _positions := AgentVMPositionBatch.new()
var _api_ok: bool = false
var _live: bool = false
var _auto_spawn: bool = true
var _position_interval_s: float = 0.1
var _position_elapsed: float = 0.0
var _positions_failing: bool = false
var _sending_positions: bool = false
var _poll_elapsed: float = 0.0
var _polling: bool = false
var _keepalive_elapsed: float = 0.0
var _session_timeout_s: float = 300.0
var _run_counter: int = 0
var _ensured_types: Dictionary = {}
var _fetching_agents: Dictionary = {}
var _pending_cancels: Dictionary = {}


func _init() -> void:
	_rest = AgentVMRestClient.new()
	_rest.name = "Rest"
	add_child(_rest, false, Node.INTERNAL_MODE_FRONT)
	_socket = AgentVMSocket.new()
	_socket.name = "Socket"
	add_child(_socket, false, Node.INTERNAL_MODE_FRONT)
	_socket.event_received.connect(_on_socket_event)
	_socket.opened.connect(_on_socket_opened)
	_socket.closed.connect(_on_socket_closed)
	_socket.replay_gap.connect(_on_replay_gap)
	_socket.error_received.connect(_on_socket_error)
	_load_settings()


func _ready() -> void:
	if Engine.is_editor_hint():
		return
	if AgentVMSettings.bool_value(AgentVMSettings.AUTO_CONNECT):
		_auto_connect()


func _exit_tree() -> void:
	_socket.close_socket()
	_set_live(false, "left the scene tree")


func _process(delta: float) -> void:
	if not _api_ok:
		return
	_position_elapsed += delta
	if _position_elapsed >= _position_interval_s and not _positions.is_empty() and not _sending_positions:
		_position_elapsed = 0.0
		flush_positions()
	if not _live:
		_poll_elapsed += delta
		if _poll_elapsed >= POLL_INTERVAL_S:
			_poll_elapsed = 0.0
			_poll_open_tasks()
	if game_id != "":
		# A session closes after session_timeout_s without traffic; refreshing the game's agents
		# counts as traffic (and corrects anything a dropped event left wrong).
		_keepalive_elapsed += delta
		if _keepalive_elapsed >= _session_timeout_s / 3.0:
			_keepalive_elapsed = 0.0
			list_game_agents()


# --- Connection ---------------------------------------------------------------------------------

## Sets the endpoint and key for the next calls (empty arguments keep the current values).
func configure(api_endpoint: String = "", key: String = "") -> void:
	var previous := endpoint
	if api_endpoint != "":
		endpoint = AgentVMProtocol.normalize_endpoint(api_endpoint)
	if key != "":
		api_key = key
	if endpoint == "":
		endpoint = AgentVMSettings.endpoint()
	if previous != "" and previous != endpoint:
		# Another server has another event log: its seq numbers mean nothing here.
		_socket.stream.reset()
		_socket.close_socket()
		_api_ok = false
	_rest.endpoint = endpoint
	_rest.api_key = api_key
	_socket.endpoint = endpoint
	_socket.api_key = api_key


## Connects: checks that the endpoint is an AgentVM API of a compatible version and that the key
## is accepted, then opens the live event stream (waiting a few seconds for it). Returns true
## when the API is usable; on false, [member last_error] says what is wrong.
func connect_to_api(api_endpoint: String = "", key: String = "") -> bool:
	configure(api_endpoint, key)
	var diagnosis: AgentVMResult = await test_connection()
	if diagnosis.is_error():
		_api_ok = false
		_report(diagnosis)
		return false
	_api_ok = true
	_socket.game_id = game_id
	_socket.open_socket()
	var deadline := Time.get_ticks_msec() + int(STREAM_WAIT_S * 1000.0)
	while is_inside_tree() and not _live and _socket.is_wanted() and Time.get_ticks_msec() < deadline:
		await get_tree().process_frame
	if not _live:
		_report(AgentVMResult.failure("stream_unavailable", "the live event stream (%s) is not open yet; it keeps retrying, and the tasks you start are polled meanwhile" % AgentVMProtocol.ws_url(endpoint, game_id, -1, "", false)))
	return true


## Checks the connection without opening the stream: reachable, an AgentVM API of a compatible
## version, key accepted. Returns an AgentVMResult whose data is {endpoint, version, key_name,
## scopes, game_id}, or whose code says what is wrong (unreachable, wrong_server,
## incompatible_version, unauthorized, forbidden).
func test_connection(api_endpoint: String = "", key: String = "") -> AgentVMResult:
	configure(api_endpoint, key)
	var quick := {"max_retries": 0, "timeout_s": 10.0}
	var health: AgentVMResult = await _rest.send(AgentVMRequests.health(), quick)
	if health.code == AgentVMResult.NOT_IN_TREE or health.code == AgentVMResult.INVALID_ARGUMENT:
		return health
	var whoami: AgentVMResult = null
	if health.is_ok():
		whoami = await _rest.send(AgentVMRequests.whoami(), quick)
	return AgentVMProtocol.diagnose(endpoint, health, whoami)


## Closes the live stream and the game session.
func disconnect_from_api() -> void:
	if session_id != "":
		_call(AgentVMRequests.disconnect_game(session_id), {"quiet": true, "max_retries": 0})
		session_id = ""
	_socket.close_socket()
	_api_ok = false
	_set_live(false, "client closing")


## True after a successful connect_to_api() (the REST API is usable).
func is_api_connected() -> bool:
	return _api_ok


## True while the live event stream is open.
func is_live() -> bool:
	return _live


## Opens a session of a game: the stream then carries this game's events, and its agents are
## fetched (agent_created for each). Returns the session Dictionary (session_id, ws_url, …).
func connect_game(id: String, scene_id: String = "", options: Dictionary = {}) -> Variant:
	if id == "":
		return _fail("connect_game: the game_id is empty")
	var engine_version := str(Engine.get_version_info().get("string", ""))
	var result: AgentVMResult = await _call(AgentVMRequests.connect_game(id, scene_id, engine_version, options))
	if result.is_error():
		return result
	var session := result.data_dict()
	game_id = id
	session_id = AgentVMJson.string_of(session, "session_id")
	_session_timeout_s = maxf(3.0, AgentVMJson.number_of(session, "session_timeout_s", 300.0))
	_keepalive_elapsed = 0.0
	_ensured_types.clear()
	_socket.subscribe(id)
	await list_game_agents(id)
	game_connected.emit(session)
	return session


## Closes the game session. Returns the closed session, or an error.
func disconnect_game() -> Variant:
	if session_id == "":
		return _fail("disconnect_game: no game session is open")
	var result: AgentVMResult = await _call(AgentVMRequests.disconnect_game(session_id))
	session_id = ""
	if result.is_error():
		return result
	return result.data_dict()


# --- Agents -------------------------------------------------------------------------------------

## Creates an agent of a configured type (aider, opencode, claude, custom, …) in the connected
## game. Options: name, personality, capabilities, position (Vector3), rotation_y, scene_id,
## metadata. Returns the new agent's id.
func create_agent(agent_type: String = "", options: Dictionary = {}) -> Variant:
	var type_name := agent_type if agent_type != "" else default_agent
	var result: AgentVMResult = await _call(AgentVMRequests.create_agent(type_name, options, game_id))
	if result.is_error():
		return result
	var agent := result.data_dict()
	_remember_agent(agent)
	return AgentVMJson.string_of(agent, "id")


## The agent as the server knows it now.
func get_agent(agent_id: String) -> Variant:
	var result: AgentVMResult = await _call(AgentVMRequests.get_agent(agent_id))
	if result.is_error():
		return result
	return result.data_dict()


## Every agent of a game (default: the connected one); also refreshes get_agents().
func list_game_agents(id: String = "") -> Variant:
	var target := id if id != "" else game_id
	if target == "":
		return _fail("list_game_agents: no game (call connect_game() first, or pass a game_id)")
	var result: AgentVMResult = await _call(AgentVMRequests.game_agents(target))
	if result.is_error():
		return result
	var items := AgentVMJson.objects_of(result.data_dict(), "items")
	if target == game_id:
		_emit_notes(_state.replace_agents(items))
	return items


## The agents of the connected game as last known (no request).
func get_agents() -> Array[Dictionary]:
	return _state.agent_list()


## One agent as last known (no request), or {}.
func get_cached_agent(agent_id: String) -> Dictionary:
	var agent: Dictionary = _state.agents.get(agent_id, {})
	return agent.duplicate(true)


## Moves an agent. Calls are coalesced: the latest position of each agent is sent with the
## others at most agentvm/performance/position_send_rate times a second, as one
## PUT /agents/positions. Returns false (and reports) for an empty id.
func update_agent_position(agent_id: String, position: Vector3, rotation_y: float = 0.0) -> bool:
	if agent_id == "":
		_fail("update_agent_position: the agent_id is empty")
		return false
	_positions.queue(agent_id, position, rotation_y)
	return true


## Sends the queued positions now. Returns {updated, not_found}, {} when nothing was queued.
func flush_positions() -> Variant:
	if _positions.is_empty() or _sending_positions:
		return {}
	_sending_positions = true
	var batch := _positions.take()
	# Positions go stale fast: no retries, the next batch carries newer ones. Report only the
	# first of a run of failures, not one every tenth of a second.
	var result: AgentVMResult = await _call(AgentVMRequests.update_positions(batch), {"max_retries": 0, "quiet": _positions_failing})
	_sending_positions = false
	_positions_failing = result.is_error()
	if result.is_error():
		if result.status == 0 or result.status == 429 or result.status >= 500:
			_positions.requeue(batch)
		return result
	return result.data_dict()


## Deletes an agent (its open tasks are cancelled). Returns true.
func delete_agent(agent_id: String) -> Variant:
	var result: AgentVMResult = await _call(AgentVMRequests.delete_agent(agent_id))
	if result.is_error():
		return result
	_emit_notes(_state.remove_agent(agent_id))
	return true


# --- Tasks --------------------------------------------------------------------------------------

## Gives a task to an agent ("" or null: the server picks an eligible agent of the game).
## Options: priority ("low".."critical", or 0–1), preferred_type, required_capabilities,
## depends_on, timeout_s, max_attempts, metadata. Returns the task id. An AgentVMResult passed as
## agent_id (a failed create_agent()) is returned as it is.
func assign_task(agent_id: Variant, description: String, task_type: String = "general", options: Dictionary = {}) -> Variant:
	if agent_id is AgentVMResult:
		return agent_id
	var target := "" if agent_id == null else str(agent_id)
	var result: AgentVMResult = await _call(AgentVMRequests.assign_task(target, description, task_type, options, game_id))
	if result.is_error():
		return result
	return _follow_task(result.data_dict())


## A parent task and one subtask per team member, each on a distinct agent. Options as for
## assign_task(). Returns the ids: the parent's first (it completes when all subtasks do), then
## one per member.
func assign_collaborative_task(description: String, team_size: int, options: Dictionary = {}) -> Variant:
	var result: AgentVMResult = await _call(AgentVMRequests.collaborative_task(description, team_size, options, game_id))
	if result.is_error():
		return result
	var parent := result.data_dict()
	var subtasks := AgentVMJson.objects_of(parent, "subtasks")
	parent.erase("subtasks")
	var ids: Array[String] = [_follow_task(parent)]
	for subtask: Dictionary in subtasks:
		ids.append(_follow_task(subtask))
	return ids


## Cancels a task (its runtime is told to stop). Returns the cancelled task; a 409 error when it
## had already finished.
func cancel_task(task_id: String) -> Variant:
	if _state.is_pending_run(task_id):
		# run_agent() has not created its task yet: cancel as soon as it exists.
		_pending_cancels[task_id] = true
		return {"id": task_id, "status": "cancelling"}
	var result: AgentVMResult = await _call(AgentVMRequests.cancel_task(_state.server_id(task_id)))
	if result.is_error():
		return result
	_emit_notes(_state.apply_task(result.data_dict(), _now()))
	return result.data_dict()


## The first plugin's call: the task's state as last known — {id, agent, prompt, status
## (pending, running, completed, failed), started_at, completed_at, output, error} plus task_id,
## server_status and progress. Events keep it current; {} for a task not seen yet (it is fetched
## in the background, so a later call has it). Use fetch_task_status() to ask the server.
func get_task_status(task_id: String) -> Dictionary:
	var view := _state.compat_status(task_id)
	if view.is_empty() and task_id != "" and _api_ok:
		_refresh_task(task_id)
	return view


## Asks the server for a task's status: {id, status, progress, message, agent_id, attempts,
## result, error, updated_at}.
func fetch_task_status(task_id: String) -> Variant:
	var result: AgentVMResult = await _call(AgentVMRequests.task_status(_state.server_id(task_id)))
	if result.is_error():
		return result
	_emit_notes(_state.apply_task(result.data_dict(), _now()))
	return result.data_dict()


## Everything known of a task (the API's task fields), or {}.
func get_task(task_id: String) -> Dictionary:
	return _state.get_task(task_id)


## The first plugin's call: ids of the tasks not finished yet.
func get_active_tasks() -> Array[String]:
	return _state.active_task_ids()


## The first plugin's call: finished tasks, newest first (as get_task_status() shows them).
func get_task_history(limit: int = 10) -> Array[Dictionary]:
	return _state.history(limit)


## The first plugin's call: forgets finished tasks.
func clear_history() -> void:
	_state.clear_history()


## The first plugin's call: runs an agent on a prompt and returns a task id at once; the outcome
## arrives as task_started, task_progress, task_completed(task_id, output) or
## task_failed(task_id, error). It queues a "run" task through POST /tasks/assign (one attempt,
## default_timeout) on an agent of the type — one is created in the game when none exists and
## agentvm/agents/auto_spawn is on — instead of holding a request open on /agent/run. Without a
## repo_path, an editor build sends the project folder, as the first plugin did; an exported game
## sends none (the agent's own working directory is used).
func run_agent(prompt: String, agent: String = "", repo_path: String = "") -> String:
	if prompt.strip_edges() == "":
		_fail("run_agent: the prompt is empty")
		return ""
	_run_counter += 1
	var client_id := "task_%d_%d" % [int(Time.get_unix_time_from_system()), _run_counter]
	var agent_type := agent if agent != "" else default_agent
	var path := repo_path
	if path == "" and OS.has_feature("editor"):
		path = ProjectSettings.globalize_path("res://")
	_state.register_run(client_id, prompt, agent_type, _now())
	# Deferred, so the caller has the id before any signal about it can fire.
	_start_run.call_deferred(client_id, prompt, agent_type, path)
	return client_id


## The original AgentVM call, POST /agent/run: waits for the end and returns {success, stdout,
## stderr, returncode, error}. Closing the connection cancels the run on the server.
func run_agent_and_wait(prompt: String, agent: String = "", repo_path: String = "", timeout_s: int = 0) -> Variant:
	var seconds := timeout_s if timeout_s > 0 else default_timeout
	var agent_type := agent if agent != "" else default_agent
	var request := AgentVMRequests.agent_run(agent_type, prompt, repo_path, seconds)
	var result: AgentVMResult = await _call(request, {"timeout_s": float(seconds) + 30.0, "max_retries": 0})
	if result.is_error():
		return result
	return result.data_dict()


## The first plugin's quick action: fix errors and warnings. Returns the task id.
func quick_fix_errors() -> String:
	return run_agent(QUICK_PROMPTS["fix_errors"])


## The first plugin's quick action: document the code. Returns the task id.
func quick_add_comments() -> String:
	return run_agent(QUICK_PROMPTS["add_comments"])


## The first plugin's quick action: refactor. Returns the task id.
func quick_refactor() -> String:
	return run_agent(QUICK_PROMPTS["refactor"])


## The first plugin's quick action: write unit tests. Returns the task id.
func quick_add_tests() -> String:
	return run_agent(QUICK_PROMPTS["add_tests"])


## The first plugin's quick action: optimize. Returns the task id.
func quick_optimize() -> String:
	return run_agent(QUICK_PROMPTS["optimize"])


# --- Internals ----------------------------------------------------------------------------------

func _load_settings() -> void:
	configure("", AgentVMSettings.api_key())
	default_agent = AgentVMSettings.string_value(AgentVMSettings.DEFAULT_AGENT_TYPE)
	_auto_spawn = AgentVMSettings.bool_value(AgentVMSettings.AUTO_SPAWN)
	_position_interval_s = 1.0 / maxf(1.0, AgentVMSettings.float_value(AgentVMSettings.POSITION_SEND_RATE))
	_rest.timeout_s = maxf(1.0, AgentVMSettings.float_value(AgentVMSettings.TIMEOUT_S))
	_rest.max_retries = maxi(0, AgentVMSettings.int_value(AgentVMSettings.RETRY_ATTEMPTS))


func _auto_connect() -> void:
	var ok: bool = await connect_to_api()
	var configured_game := AgentVMSettings.string_value(AgentVMSettings.GAME_ID)
	if ok and configured_game != "":
		await connect_game(configured_game)


func _call(request: Dictionary, options: Dictionary = {}) -> AgentVMResult:
	if endpoint == "":
		configure()
	var result: AgentVMResult = await _rest.send(request, options)
	if result.is_error() and not bool(options.get("quiet", false)):
		_report(result)
	return result


func _report(error: AgentVMResult) -> void:
	last_error = error
	if log_errors:
		push_warning("AgentVM: %s" % error)
	error_occurred.emit(error)


func _fail(message: String) -> AgentVMResult:
	var error := AgentVMResult.failure(AgentVMResult.INVALID_ARGUMENT, message)
	_report(error)
	return error


func _now() -> float:
	return Time.get_unix_time_from_system()


## Applies a task this client created and follows it (polled while the stream is down).
func _follow_task(task: Dictionary) -> String:
	var id := AgentVMJson.string_of(task, "id")
	_emit_notes(_state.apply_task(task, _now()))
	_state.watch(id)
	return id


func _remember_agent(agent: Dictionary) -> void:
	var agent_game := AgentVMJson.string_of(agent, "game_id")
	if game_id == "" or agent_game == game_id:
		_emit_notes(_state.upsert_agent(agent))


func _start_run(client_id: String, prompt: String, agent_type: String, repo_path: String) -> void:
	if _auto_spawn:
		var ensured: AgentVMResult = await _ensure_agent_of_type(agent_type)
		if ensured.is_error():
			_emit_notes(_state.fail_run(client_id, ensured.message, _now()))
			return
	var request := AgentVMRequests.run_task(prompt, agent_type, repo_path, client_id, default_timeout, game_id)
	var result: AgentVMResult = await _call(request)
	if result.is_error():
		_emit_notes(_state.fail_run(client_id, result.message, _now()))
		return
	_emit_notes(_state.link_run(client_id, result.data_dict(), _now()))
	if _pending_cancels.has(client_id):
		_pending_cancels.erase(client_id)
		await cancel_task(client_id)


## Makes sure an agent of the type can take a run_agent() task in the game (or, with no game,
## outside any game), creating one when none exists — as the original /agent/run did.
func _ensure_agent_of_type(agent_type: String) -> AgentVMResult:
	var key := "%s@%s" % [agent_type, game_id]
	if _ensured_types.has(key) or (game_id != "" and _state.has_available_agent(agent_type)):
		return AgentVMResult.success(200, null)
	var filters := {"agent_type": agent_type, "game_id": game_id, "limit": 100}
	var listed: AgentVMResult = await _call(AgentVMRequests.list_agents(filters))
	if listed.is_error():
		return listed
	for agent: Dictionary in AgentVMJson.objects_of(listed.data_dict(), "items"):
		var status := AgentVMJson.string_of(agent, "status")
		if AgentVMJson.string_of(agent, "game_id") == game_id and status != "offline" and status != "error":
			_ensured_types[key] = true
			return AgentVMResult.success(200, agent)
	var created: AgentVMResult = await _call(AgentVMRequests.create_agent(agent_type, {"metadata": {"spawned_by": AgentVMRequests.RUN_SOURCE}}, game_id))
	if created.is_ok():
		_ensured_types[key] = true
		_remember_agent(created.data_dict())
	return created


## Emits the signals a state change implies; "_"-prefixed notes are requests to this node.
func _emit_notes(notes: Array[Dictionary]) -> void:
	for note: Dictionary in notes:
		var signal_name: String = note["signal"]
		var args: Array = note["args"]
		if signal_name == "_fetch_agent":
			_fetch_agent(str(args[0]))
			continue
		if signal_name == "agent_deleted":
			_ensured_types.clear()
			_positions.clear(str(args[0]))
		callv("emit_signal", [signal_name] + args)


func _fetch_agent(agent_id: String) -> void:
	if agent_id == "" or _fetching_agents.has(agent_id) or not _api_ok:
		return
	_fetching_agents[agent_id] = true
	var result: AgentVMResult = await _call(AgentVMRequests.get_agent(agent_id), {"quiet": true})
	_fetching_agents.erase(agent_id)
	if result.is_ok():
		_remember_agent(result.data_dict())


func _refresh_task(task_id: String) -> void:
	var id := _state.server_id(task_id)
	if id == "":
		return
	var result: AgentVMResult = await _call(AgentVMRequests.get_task(id), {"quiet": true, "max_retries": 0})
	if result.is_ok():
		_emit_notes(_state.apply_task(result.data_dict(), _now()))


## While the stream is down, asks for the status of the open tasks this client created.
func _poll_open_tasks() -> void:
	if _polling:
		return
	_polling = true
	for id: String in _state.watched_open_ids(POLL_BATCH):
		var result: AgentVMResult = await _call(AgentVMRequests.task_status(id), {"quiet": true, "max_retries": 0})
		if result.is_ok():
			_emit_notes(_state.apply_task(result.data_dict(), _now()))
		elif result.code == AgentVMResult.UNREACHABLE or result.code == AgentVMResult.NOT_IN_TREE:
			break
	_polling = false


func _set_live(value: bool, reason: String) -> void:
	if value == _live:
		return
	_live = value
	if value:
		connected.emit()
	else:
		disconnected.emit(reason)
	connection_status_changed.emit(value)


func _on_socket_event(event: Dictionary) -> void:
	event_received.emit(event)
	_emit_notes(_state.apply_event(event, _now()))
	if AgentVMJson.string_of(event, "type") == "game.disconnected":
		var data := AgentVMJson.dict_of(event, "data")
		if session_id != "" and AgentVMJson.string_of(data, "session_id") == session_id and AgentVMJson.string_of(data, "reason") == "timeout":
			# The server closed the session for lack of traffic: open a new one.
			session_id = ""
			connect_game(game_id)


func _on_socket_opened(_hello: Dictionary) -> void:
	_set_live(true, "")


func _on_socket_closed(code: int, reason: String, will_retry: bool) -> void:
	_set_live(false, "%s (close code %d)" % [reason, code])
	if not will_retry and code == AgentVMSocket.CLOSE_POLICY:
		_report(AgentVMResult.failure("unauthorized", "the event stream refused the key or game: %s" % reason, 401))


func _on_replay_gap(_message: String) -> void:
	# Events were lost for good: take the game's agents and the followed tasks afresh.
	if game_id != "":
		list_game_agents()
	_poll_open_tasks()


func _on_socket_error(code: String, message: String) -> void:
	_report(AgentVMResult.failure(code, "event stream: %s" % message))
