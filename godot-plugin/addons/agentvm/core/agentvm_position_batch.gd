@tool
class_name AgentVMPositionBatch
extends RefCounted
## Coalesces agent positions between sends: a game may move its NPCs every frame, but only the
## latest position of each agent matters, and the API takes up to 1,000 agents per
## PUT /agents/positions. The manager takes a batch at most position_send_rate times a second.

var _pending: Dictionary = {}  # agent id → entry, in first-queued order


## Queues the latest position of an agent (replacing one not sent yet).
func queue(agent_id: String, position: Vector3, rotation_y: float, scene_id: String = "") -> void:
	var entry := {"agent_id": agent_id, "x": position.x, "y": position.y, "z": position.z, "rotation_y": rotation_y}
	if scene_id != "":
		entry["scene_id"] = scene_id
	_pending[agent_id] = entry


## Number of agents waiting to be sent.
func size() -> int:
	return _pending.size()


## True when nothing waits.
func is_empty() -> bool:
	return _pending.is_empty()


## Takes up to [param limit] entries (oldest first) for one PUT /agents/positions.
func take(limit: int = AgentVMRequests.MAX_POSITIONS_PER_CALL) -> Array[Dictionary]:
	var batch: Array[Dictionary] = []
	for agent_id: String in _pending.keys():
		if batch.size() >= limit:
			break
		batch.append(_pending[agent_id])
		_pending.erase(agent_id)
	return batch


## Puts entries back after a failed send, unless a newer position was queued meanwhile.
func requeue(entries: Array[Dictionary]) -> void:
	for entry: Dictionary in entries:
		var agent_id := AgentVMJson.string_of(entry, "agent_id")
		if agent_id != "" and not _pending.has(agent_id):
			_pending[agent_id] = entry


## Drops everything queued (e.g. for an agent that was deleted, or on disconnect).
func clear(agent_id: String = "") -> void:
	if agent_id == "":
		_pending.clear()
	else:
		_pending.erase(agent_id)
