extends Node3D
## The AgentVM demo: connects to the API (agentvm/api/endpoint, or the AGENTVM_TEST_URL
## environment variable), opens the game "demo", makes sure three agents exist, gives them tasks
## every few seconds and lets idle ones wander. AgentWorld shows every agent as an NPC: status
## colour, activity animation, task bubble with progress. Against the api's embedded default
## (npm start in the repository) it needs no other setup; without an api it says so and retries.

const GAME_ID := "demo"
const AGENTS := [
	{"agent_type": "aider", "name": "Ada", "personality": "ambitious"},
	{"agent_type": "claude", "name": "Brook", "personality": "team_player"},
	{"agent_type": "opencode", "name": "Cyd", "personality": "steady"},
]
const TASKS := [
	["Fix the player movement bug", "debugging"],
	["Add a pause menu", "feature"],
	["Review the save system", "review"],
	["Write tests for the inventory", "testing"],
]
const TASK_EVERY_S := 6.0
const WANDER_EVERY_S := 2.0
const RETRY_CONNECT_S := 5.0
const ARENA := 12.0
const LOG_LINES := 8

var _manager: AgentVMManager
var _connected: bool = false
var _connecting: bool = false
var _retry_elapsed: float = 0.0
var _task_elapsed: float = 0.0
var _wander_elapsed: float = 0.0
var _task_index: int = 0
var _log: Array[String] = []
var _rng := RandomNumberGenerator.new()

@onready var _status: Label = $HUD/Status
@onready var _camera: Camera3D = $Camera
@onready var _sun: DirectionalLight3D = $Sun
@onready var _world: AgentWorld = $AgentWorld


func _ready() -> void:
	_rng.randomize()
	_camera.position = Vector3(0.0, 14.0, 16.0)
	_camera.look_at(Vector3.ZERO)
	_sun.rotation_degrees = Vector3(-50.0, 30.0, 0.0)
	_manager = get_node_or_null("/root/AgentVM") as AgentVMManager
	if _manager == null:
		# The plugin (and its autoload) is not enabled: bring a manager of our own.
		_manager = AgentVMManager.new()
		add_child(_manager)
		_world.bind(_manager)
	_manager.log_errors = false
	_manager.task_started.connect(func(task_id: String, prompt: String) -> void: _add_log("started  %s  %s" % [task_id.left(8), prompt]))
	_manager.task_completed.connect(func(task_id: String, output: String) -> void: _add_log("done     %s  %s" % [task_id.left(8), output.left(60)]))
	_manager.task_failed.connect(func(task_id: String, error: String) -> void: _add_log("failed   %s  %s" % [task_id.left(8), error.left(60)]))
	_manager.disconnected.connect(func(reason: String) -> void: _add_log("stream down: %s" % reason))
	_manager.connected.connect(func() -> void: _add_log("stream live"))
	_manager.error_occurred.connect(func(error: AgentVMResult) -> void: _add_log("%s: %s" % [error.code, error.message.left(80)]))
	_connect()


func _process(delta: float) -> void:
	if not _connected:
		if not _connecting:
			_retry_elapsed += delta
			if _retry_elapsed >= RETRY_CONNECT_S:
				_retry_elapsed = 0.0
				_connect()
		return
	_task_elapsed += delta
	if _task_elapsed >= TASK_EVERY_S:
		_task_elapsed = 0.0
		_assign_next_task()
	_wander_elapsed += delta
	if _wander_elapsed >= WANDER_EVERY_S:
		_wander_elapsed = 0.0
		_wander()


func _connect() -> void:
	_connecting = true
	var endpoint := OS.get_environment("AGENTVM_TEST_URL")
	_add_log("connecting to %s …" % (endpoint if endpoint != "" else AgentVMSettings.endpoint()))
	var ok: bool = await _manager.connect_to_api(endpoint)
	if not ok:
		_connecting = false
		var reason := _manager.last_error.message if _manager.last_error != null else "unknown error"
		_add_log("cannot connect: %s" % reason)
		_add_log("start the api (npm start in the repository); retrying every %d s" % int(RETRY_CONNECT_S))
		return
	var session: Variant = await _manager.connect_game(GAME_ID)
	if session is AgentVMResult:
		_connecting = false
		_add_log("cannot open the game: %s" % (session as AgentVMResult).message)
		return
	await _ensure_agents()
	_connected = true
	_connecting = false
	_add_log("game %s: %d agents" % [GAME_ID, _manager.get_agents().size()])
	_assign_next_task()


func _ensure_agents() -> void:
	var names: Array[String] = []
	for agent: Dictionary in _manager.get_agents():
		names.append(AgentVMJson.string_of(agent, "name"))
	for spec: Dictionary in AGENTS:
		if names.has(str(spec["name"])):
			continue
		var options := {
			"name": spec["name"],
			"personality": spec["personality"],
			"position": Vector3(_rng.randf_range(-ARENA, ARENA), 0.0, _rng.randf_range(-ARENA, ARENA)),
		}
		var created: Variant = await _manager.create_agent(str(spec["agent_type"]), options)
		if created is AgentVMResult:
			_add_log("cannot create %s: %s" % [spec["name"], (created as AgentVMResult).message])


## Every fourth task is a collaborative one; the others go to an idle agent (or any agent).
func _assign_next_task() -> void:
	var task: Array = TASKS[_task_index % TASKS.size()]
	_task_index += 1
	if _task_index % 4 == 0:
		_manager.assign_collaborative_task("Implement multiplayer networking", 2)
		return
	var idle := ""
	for agent: Dictionary in _manager.get_agents():
		if AgentVMJson.string_of(agent, "status") == "idle":
			idle = AgentVMJson.string_of(agent, "id")
			break
	_manager.assign_task(idle, str(task[0]), str(task[1]))


## Idle agents stroll; busy ones stay at work. Positions go out batched (position_send_rate).
func _wander() -> void:
	for agent: Dictionary in _manager.get_agents():
		if AgentVMJson.string_of(agent, "status") != "idle":
			continue
		var from := AgentVMJson.vector3_of(agent, "position")
		var step := Vector3(_rng.randf_range(-3.0, 3.0), 0.0, _rng.randf_range(-3.0, 3.0))
		var to := (from + step).clamp(Vector3(-ARENA, 0.0, -ARENA), Vector3(ARENA, 0.0, ARENA))
		_manager.update_agent_position(AgentVMJson.string_of(agent, "id"), to, atan2(-step.x, -step.z))


func _add_log(line: String) -> void:
	_log.append(line)
	while _log.size() > LOG_LINES:
		_log.remove_at(0)
	_status.text = "AgentVM demo — game %s\n%s" % [GAME_ID, "\n".join(PackedStringArray(_log))]
