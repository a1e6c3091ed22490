@icon("res://addons/agentvm/icon.svg")
class_name AgentWorld
extends Node
## Spawns an NPC for every agent of the connected game and keeps it current: status, activity,
## task bubble and position follow the manager's signals. NPC instances come from a pool, and
## NPCs far from the camera hide their labels and update only npc_update_rate times a second
## (level of detail), so a thousand agents stay smooth. Add it to a scene; it finds the
## AgentVM autoload (or the manager at manager_path).
##
## Any scene whose root has the NPC methods (apply_agent, set_state, set_task, set_target,
## set_lod, distance_to_viewer, tick, reset) works as npc_scene: agent_npc_3d.tscn (default),
## agent_npc_2d.tscn, or your own.

## An NPC was spawned (or taken from the pool) for an agent.
signal npc_spawned(agent_id: String, npc: Node)
## An agent's NPC was removed (back to the pool).
signal npc_removed(agent_id: String)

const DEFAULT_NPC_SCENE := "res://addons/agentvm/npc/agent_npc_3d.tscn"
const NPC_METHODS := ["apply_agent", "set_state", "set_task", "set_target", "set_lod", "distance_to_viewer", "tick", "reset"]

## The NPC scene (default: the 3D NPC).
@export var npc_scene: PackedScene
## The AgentVMManager to follow (default: the AgentVM autoload).
@export var manager_path: NodePath
## Beyond this distance NPCs hide labels and update less often (-1: agentvm/performance/lod_distance).
@export var lod_distance: float = -1.0
## Updates per second of far NPCs (-1: agentvm/performance/npc_update_rate).
@export var npc_update_rate: float = -1.0
## NPC instances kept for reuse (-1: agentvm/performance/npc_pool_size).
@export var pool_size: int = -1
## NPCs whose level of detail is recomputed per frame.
@export var lod_checks_per_frame: int = 100

## The manager this world follows.
var manager: AgentVMManager = null

var _npcs: Dictionary = {}  # agent id → NPC node
var _order: Array[String] = []
var _levels: Dictionary = {}  # agent id → AgentVMLod level
var _pending_delta: Dictionary = {}  # agent id → seconds not yet given to tick()
var _pool: Array[Node] = []
var _frame: int = 0
var _animation_quality: int = AgentVMSettings.QUALITY_HIGH
var _effects: bool = true
var _show_labels: bool = true


func _ready() -> void:
	if lod_distance < 0.0:
		lod_distance = AgentVMSettings.float_value(AgentVMSettings.LOD_DISTANCE)
	if npc_update_rate < 0.0:
		npc_update_rate = AgentVMSettings.float_value(AgentVMSettings.NPC_UPDATE_RATE)
	if pool_size < 0:
		pool_size = AgentVMSettings.int_value(AgentVMSettings.NPC_POOL_SIZE)
	_animation_quality = AgentVMSettings.int_value(AgentVMSettings.ANIMATION_QUALITY)
	_effects = AgentVMSettings.bool_value(AgentVMSettings.EFFECTS)
	_show_labels = AgentVMSettings.bool_value(AgentVMSettings.SHOW_LABELS)
	if npc_scene == null:
		npc_scene = load(DEFAULT_NPC_SCENE) as PackedScene
	if manager == null:
		var found := _find_manager()
		if found != null:
			bind(found)


func _process(delta: float) -> void:
	_frame += 1
	var count := _order.size()
	if count == 0:
		return
	var slice := AgentVMLod.refresh_slice(count, _frame, lod_checks_per_frame)
	for index: int in range(slice.x, slice.y):
		var id := _order[index]
		var npc: Node = _npcs[id]
		var distance: float = npc.call("distance_to_viewer")
		var level := AgentVMLod.level_for(distance, lod_distance)
		if level != int(_levels[id]):
			_levels[id] = level
			npc.call("set_lod", level)
	var interval := AgentVMLod.far_interval_frames(Engine.get_frames_per_second(), npc_update_rate)
	for index: int in count:
		var id := _order[index]
		var waited: float = _pending_delta[id] + delta
		if AgentVMLod.is_due(int(_levels[id]), _frame, index, interval):
			_pending_delta[id] = 0.0
			var npc: Node = _npcs[id]
			npc.call("tick", waited)
		else:
			_pending_delta[id] = waited


## Follows a manager: spawns NPCs for the agents it knows and for those that appear later.
func bind(target: AgentVMManager) -> void:
	manager = target
	manager.agent_created.connect(_on_agent_created)
	manager.agent_updated.connect(_on_agent_created)
	manager.agent_deleted.connect(despawn)
	manager.agent_state_changed.connect(_on_agent_state_changed)
	manager.agent_moved.connect(_on_agent_moved)
	manager.task_updated.connect(_on_task_updated)
	for agent: Dictionary in manager.get_agents():
		spawn(agent)


## Shows an agent: updates its NPC, or spawns one (from the pool when possible).
func spawn(agent: Dictionary) -> Node:
	var id := AgentVMJson.string_of(agent, "id")
	if id == "":
		return null
	if _npcs.has(id):
		var existing: Node = _npcs[id]
		existing.call("apply_agent", agent)
		return existing
	var npc: Node = null
	if not _pool.is_empty():
		npc = _pool.pop_back()
	else:
		npc = _instantiate()
	if npc == null:
		return null
	npc.set("self_process", false)
	npc.set("animation_quality", _animation_quality)
	npc.set("effects", _effects)
	npc.set("labels_visible", _show_labels)
	add_child(npc)
	npc.set_process(false)
	npc.call("apply_agent", agent)
	npc.call("set_lod", AgentVMLod.NEAR)
	_npcs[id] = npc
	_order.append(id)
	_levels[id] = AgentVMLod.NEAR
	_pending_delta[id] = 0.0
	npc_spawned.emit(id, npc)
	return npc


## Removes an agent's NPC, keeping the instance in the pool for the next agent.
func despawn(agent_id: String) -> void:
	if not _npcs.has(agent_id):
		return
	var npc: Node = _npcs[agent_id]
	_npcs.erase(agent_id)
	_order.erase(agent_id)
	_levels.erase(agent_id)
	_pending_delta.erase(agent_id)
	remove_child(npc)
	if _pool.size() < pool_size:
		npc.call("reset")
		_pool.append(npc)
	else:
		npc.queue_free()
	npc_removed.emit(agent_id)


## Removes every NPC (into the pool, up to its size).
func clear() -> void:
	for id: String in _order.duplicate():
		despawn(id)


## The NPC of an agent, or null.
func get_npc(agent_id: String) -> Node:
	return _npcs.get(agent_id) as Node


## Number of NPCs shown.
func npc_count() -> int:
	return _npcs.size()


## Number of NPC instances waiting in the pool.
func pooled_count() -> int:
	return _pool.size()


func _notification(what: int) -> void:
	if what == NOTIFICATION_PREDELETE:
		# Pooled NPCs are out of the tree, so nothing else frees them.
		for npc: Node in _pool:
			if is_instance_valid(npc):
				npc.free()
		_pool.clear()


func _instantiate() -> Node:
	if npc_scene == null:
		push_warning("AgentWorld: no npc_scene")
		return null
	var npc := npc_scene.instantiate()
	for method: String in NPC_METHODS:
		if not npc.has_method(method):
			push_warning("AgentWorld: %s lacks the NPC method %s()" % [npc_scene.resource_path, method])
			npc.free()
			return null
	return npc


func _find_manager() -> AgentVMManager:
	if not manager_path.is_empty():
		return get_node_or_null(manager_path) as AgentVMManager
	return get_node_or_null("/root/AgentVM") as AgentVMManager


func _on_agent_created(agent: Dictionary) -> void:
	spawn(agent)


func _on_agent_state_changed(agent_id: String, status: String, activity: String) -> void:
	var npc := get_npc(agent_id)
	if npc == null:
		return
	var agent: Dictionary = {}
	if manager != null:
		agent = manager.get_cached_agent(agent_id)
	npc.call("set_state", status, activity, AgentVMJson.string_of(agent, "activity_detail"))


func _on_agent_moved(agent_id: String, position: Vector3, rotation_y: float) -> void:
	var npc := get_npc(agent_id)
	if npc != null:
		npc.call("set_target", position, rotation_y)


func _on_task_updated(task: Dictionary) -> void:
	var npc := get_npc(AgentVMJson.string_of(task, "agent_id"))
	if npc == null:
		return
	var status := AgentVMJson.string_of(task, "status")
	if status == "running":
		npc.call("set_task", AgentVMJson.string_of(task, "description"), AgentVMJson.number_of(task, "progress"))
	elif AgentVMState.is_final(status):
		npc.call("set_task", "", 0.0)
