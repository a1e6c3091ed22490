@tool
class_name AgentVMState
extends RefCounted
## The client's picture of the game: its agents and the tasks it follows, kept current by events
## and REST answers. Every change returns the signals it implies as notifications
## [code]{"signal": name, "args": [...]}[/code], which AgentVMManager emits. Names starting with
## "_" are requests to the manager (fetch an agent it has not seen). No nodes and no I/O, so the
## dispatch is tested headless with the frames of tests/fixtures/contract.json.
##
## Task ids: a task started with run_agent() is known by the id run_agent() returned (its
## "public" id) until the end; every other task by its server id.

const FINAL_STATUSES := ["completed", "failed", "cancelled"]
## Finished tasks remembered for get_task() and the history.
const HISTORY_LIMIT := 100

## agent id → agent Dictionary (the API's agent object).
var agents: Dictionary = {}
## server task id → task Dictionary (the API's task object, as far as known).
var tasks: Dictionary = {}

var _meta: Dictionary = {}  # server task id → {origin, client_id, agent_type, started_at, finished_at, reason}
var _pending_runs: Dictionary = {}  # client id → {prompt, agent_type, created_at, error}
var _client_to_server: Dictionary = {}
var _server_to_client: Dictionary = {}
var _finished: Array[String] = []  # server ids of finished tasks, oldest first
var _failed_runs: Array[Dictionary] = []  # run_agent() calls refused before a task existed, newest first


# --- Events -------------------------------------------------------------------------------------

## Applies one event envelope {seq, type, ts, game_id, data}; [param now] is the Unix time.
func apply_event(event: Dictionary, now: float) -> Array[Dictionary]:
	var data := AgentVMJson.dict_of(event, "data")
	var task_id := AgentVMJson.string_of(data, "task_id")
	var agent_id := AgentVMJson.string_of(data, "agent_id")
	match AgentVMJson.string_of(event, "type"):
		"agent.created":
			return upsert_agent(AgentVMJson.dict_of(data, "agent"))
		"agent.updated":
			var updated := AgentVMJson.dict_of(data, "agent")
			var notes := upsert_agent(updated)
			if notes.is_empty() and not updated.is_empty():
				notes.append(_note("agent_updated", [updated.duplicate(true)]))
			return notes
		"agent.state_changed":
			return _agent_state(agent_id, data)
		"agent.moved":
			return _agent_moved(agent_id, data)
		"agent.deleted":
			return remove_agent(agent_id)
		"task.created":
			return _task_created(AgentVMJson.dict_of(data, "task"), now)
		"task.assigned":
			return _merge_task(task_id, {"status": "assigned", "agent_id": agent_id, "attempts": AgentVMJson.int_of(data, "attempt")}, now)
		"task.started":
			return _merge_task(task_id, {"status": "running", "agent_id": agent_id, "attempts": AgentVMJson.int_of(data, "attempt")}, now)
		"task.progress":
			var patch := {"progress": AgentVMJson.number_of(data, "progress"), "message": data.get("message")}
			if not tasks.has(task_id):
				patch["status"] = "running"
			return _merge_task(task_id, patch, now)
		"task.completed":
			return _merge_task(task_id, {"status": "completed", "progress": 1.0, "result": data.get("result")}, now)
		"task.failed":
			var will_retry := AgentVMJson.bool_of(data, "will_retry")
			var failed := {"status": "queued" if will_retry else "failed", "error": data.get("error"), "attempts": AgentVMJson.int_of(data, "attempt")}
			return _merge_task(task_id, failed, now)
		"task.cancelled":
			if task_id == "":
				return []
			var cancelled_meta := _meta_of(task_id)
			cancelled_meta["reason"] = AgentVMJson.string_of(data, "reason", "cancelled")
			return _merge_task(task_id, {"status": "cancelled"}, now)
	return []


## Applies a task as a REST answer returned it (the whole task, or the status view of
## GET /tasks/{id}/status). An answer older than what events already told is ignored.
func apply_task(task: Dictionary, now: float) -> Array[Dictionary]:
	var id := AgentVMJson.string_of(task, "id")
	if id == "":
		return []
	var known: Dictionary = tasks.get(id, {})
	if not known.is_empty() and _is_stale(known, task):
		return []
	return _merge_task(id, task, now)


# --- Agents -------------------------------------------------------------------------------------

## Adds or replaces an agent; notifies agent_created for a new one.
func upsert_agent(agent: Dictionary) -> Array[Dictionary]:
	var id := AgentVMJson.string_of(agent, "id")
	if id == "":
		return []
	var is_new := not agents.has(id)
	agents[id] = agent.duplicate(true)
	if is_new:
		return [_note("agent_created", [agent.duplicate(true)])]
	return []


## Forgets an agent; notifies agent_deleted when it was known.
func remove_agent(agent_id: String) -> Array[Dictionary]:
	if not agents.has(agent_id):
		return []
	agents.erase(agent_id)
	return [_note("agent_deleted", [agent_id])]


## Replaces the agents with a fresh list (GET /game/agents/{game_id}): notifies what changed
## since the last known state — created, state changes, moves, deletions.
func replace_agents(items: Array) -> Array[Dictionary]:
	var notes: Array[Dictionary] = []
	var seen: Dictionary = {}
	for item: Variant in items:
		if not (item is Dictionary):
			continue
		var agent: Dictionary = item
		var id := AgentVMJson.string_of(agent, "id")
		if id == "":
			continue
		seen[id] = true
		var before: Dictionary = agents.get(id, {})
		if before.is_empty():
			notes.append_array(upsert_agent(agent))
			continue
		agents[id] = agent.duplicate(true)
		var status := AgentVMJson.string_of(agent, "status")
		var activity := AgentVMJson.string_of(agent, "activity")
		if status != AgentVMJson.string_of(before, "status") or activity != AgentVMJson.string_of(before, "activity"):
			notes.append(_note("agent_state_changed", [id, status, activity]))
		var position := AgentVMJson.vector3_of(agent, "position")
		var rotation_y := AgentVMJson.number_of(agent, "rotation_y")
		if not position.is_equal_approx(AgentVMJson.vector3_of(before, "position")) or not is_equal_approx(rotation_y, AgentVMJson.number_of(before, "rotation_y")):
			notes.append(_note("agent_moved", [id, position, rotation_y]))
	for id: String in agents.keys():
		if not seen.has(id):
			notes.append_array(remove_agent(id))
	return notes


## Every known agent (copies).
func agent_list() -> Array[Dictionary]:
	var list: Array[Dictionary] = []
	for agent: Dictionary in agents.values():
		list.append(agent.duplicate(true))
	return list


## True when a known agent of this type can take work (not offline or in error).
func has_available_agent(agent_type: String) -> bool:
	for agent: Dictionary in agents.values():
		var status := AgentVMJson.string_of(agent, "status")
		if AgentVMJson.string_of(agent, "agent_type") == agent_type and status != "offline" and status != "error":
			return true
	return false


# --- run_agent() --------------------------------------------------------------------------------

## Remembers a run_agent() call before the server knows its task.
func register_run(client_id: String, prompt: String, agent_type: String, now: float) -> void:
	_pending_runs[client_id] = {"prompt": prompt, "agent_type": agent_type, "created_at": now}


## Ties a run_agent() id to the task the server created for it (from the POST answer or the
## task.created event, whichever comes first) and applies what is known of the task.
func link_run(client_id: String, task: Dictionary, now: float) -> Array[Dictionary]:
	var task_id := AgentVMJson.string_of(task, "id")
	if task_id == "":
		return []
	if not _pending_runs.has(client_id):
		return apply_task(task, now)
	var pending: Dictionary = _pending_runs[client_id]
	_pending_runs.erase(client_id)
	_client_to_server[client_id] = task_id
	_server_to_client[task_id] = client_id
	var meta := _meta_of(task_id)
	meta["origin"] = "run_agent"
	meta["client_id"] = client_id
	meta["agent_type"] = pending["agent_type"]
	meta["started_at"] = pending["created_at"]
	return apply_task(task, now)


## A run_agent() call whose request failed before the server created a task: it fails the way
## the first plugin reported it, with task_failed(id, error).
func fail_run(client_id: String, error_message: String, now: float) -> Array[Dictionary]:
	if not _pending_runs.has(client_id):
		return []
	var pending: Dictionary = _pending_runs[client_id]
	pending["error"] = error_message
	pending["finished_at"] = now
	_pending_runs.erase(client_id)
	var view := {
		"id": client_id, "task_id": "", "agent": pending["agent_type"], "prompt": pending["prompt"],
		"status": "failed", "server_status": "", "progress": 0.0, "started_at": pending["created_at"],
		"completed_at": now, "output": "", "error": error_message,
	}
	_failed_runs.push_front(view)
	if _failed_runs.size() > HISTORY_LIMIT:
		_failed_runs.resize(HISTORY_LIMIT)
	return [_note("task_failed", [client_id, error_message])]


# --- Lookups ------------------------------------------------------------------------------------

## The id callers know a task by: the run_agent() id for its tasks, the server id otherwise.
func public_id(task_id: String) -> String:
	return str(_server_to_client.get(task_id, task_id))


## The server id of a task known by either id ("" for a run_agent() id not created yet).
func server_id(any_id: String) -> String:
	if _client_to_server.has(any_id):
		return str(_client_to_server[any_id])
	if _pending_runs.has(any_id):
		return ""
	return any_id


## True for a run_agent() id whose task the server has not created yet.
func is_pending_run(any_id: String) -> bool:
	return _pending_runs.has(any_id)


## The task as last known (the API's task fields), or {}.
func get_task(any_id: String) -> Dictionary:
	var task: Dictionary = tasks.get(server_id(any_id), {})
	return task.duplicate(true)


## The first plugin's view of a task: {id, agent, prompt, status, started_at, completed_at,
## output, error} with its statuses (pending, running, completed, failed), plus task_id,
## server_status and progress. {} for an unknown id.
func compat_status(any_id: String) -> Dictionary:
	if _pending_runs.has(any_id):
		var pending: Dictionary = _pending_runs[any_id]
		return {
			"id": any_id, "task_id": "", "agent": pending["agent_type"], "prompt": pending["prompt"],
			"status": "pending", "server_status": "", "progress": 0.0, "started_at": pending["created_at"],
			"completed_at": 0.0, "output": "", "error": "",
		}
	for view: Dictionary in _failed_runs:
		if view["id"] == any_id:
			return view.duplicate(true)
	var id := server_id(any_id)
	if not tasks.has(id):
		return {}
	var task: Dictionary = tasks[id]
	var meta := _meta_of(id)
	var status := AgentVMJson.string_of(task, "status")
	return {
		"id": public_id(id),
		"task_id": id,
		"agent": str(meta.get("agent_type", AgentVMJson.string_of(task, "agent_type"))),
		"prompt": AgentVMJson.string_of(task, "description"),
		"status": compat_status_name(status),
		"server_status": status,
		"progress": AgentVMJson.number_of(task, "progress"),
		"started_at": float(meta.get("started_at", 0.0)),
		"completed_at": float(meta.get("finished_at", 0.0)),
		"output": output_of(task.get("result")) if status == "completed" else "",
		"error": failure_message(task, meta) if status == "failed" or status == "cancelled" else "",
	}


## Ids of tasks not finished yet (public ids), run_agent() calls still being sent included.
func active_task_ids() -> Array[String]:
	var ids: Array[String] = []
	for client_id: String in _pending_runs.keys():
		ids.append(client_id)
	for id: String in tasks.keys():
		if not is_final(AgentVMJson.string_of(tasks[id], "status")):
			ids.append(public_id(id))
	return ids


## Finished tasks in the first plugin's view, newest first.
func history(limit: int = 10) -> Array[Dictionary]:
	var views: Array[Dictionary] = []
	for index: int in range(_finished.size() - 1, -1, -1):
		views.append(compat_status(_finished[index]))
	views.append_array(_failed_runs)
	views.sort_custom(func(a: Dictionary, b: Dictionary) -> bool: return float(a["completed_at"]) > float(b["completed_at"]))
	if limit >= 0 and views.size() > limit:
		views.resize(limit)
	return views


## Forgets finished tasks.
func clear_history() -> void:
	for id: String in _finished:
		tasks.erase(id)
		_meta.erase(id)
		var client_id := str(_server_to_client.get(id, ""))
		_server_to_client.erase(id)
		_client_to_server.erase(client_id)
	_finished.clear()
	_failed_runs.clear()


## Server ids of the open tasks this client created (run_agent / assign_task), at most [param limit]:
## what to poll while the event stream is down.
func watched_open_ids(limit: int) -> Array[String]:
	var ids: Array[String] = []
	for id: String in _meta.keys():
		if ids.size() >= limit:
			break
		var meta: Dictionary = _meta[id]
		if meta.has("origin") and tasks.has(id) and not is_final(AgentVMJson.string_of(tasks[id], "status")):
			ids.append(id)
	return ids


## Marks a task as created by this client (followed even while the event stream is down).
func watch(server_task_id: String) -> void:
	var meta := _meta_of(server_task_id)
	if not meta.has("origin"):
		meta["origin"] = "assign"


# --- Pure rules ---------------------------------------------------------------------------------

## True for completed, failed and cancelled.
static func is_final(status: String) -> bool:
	return FINAL_STATUSES.has(status)


## The first plugin's status names: pending (queued, assigned), running, completed, failed
## (failed and cancelled, as it reported a cancellation).
static func compat_status_name(status: String) -> String:
	match status:
		"queued", "assigned":
			return "pending"
		"cancelled":
			return "failed"
	return status


## A task result as the first plugin's output string: the text of a string result, else its
## stdout, output or summary, else the result as JSON — the rule /agent/run answers with.
static func output_of(result: Variant) -> String:
	if result == null:
		return ""
	if result is String:
		return result
	if result is Dictionary:
		for key: String in ["stdout", "output", "summary"]:
			var text := AgentVMJson.string_of(result, key)
			if text != "":
				return text
	return JSON.stringify(result)


## The message of a task error ({code, message}) or a string error.
static func error_message_of(error: Variant) -> String:
	if error is String:
		return error
	if error is Dictionary:
		var message := AgentVMJson.string_of(error, "message")
		if message != "":
			return message
		return AgentVMJson.string_of(error, "code", "failed")
	return "failed"


## The first plugin's error string of a failed or cancelled task.
static func failure_message(task: Dictionary, meta: Dictionary) -> String:
	if AgentVMJson.string_of(task, "status") == "cancelled":
		return "Cancelled: %s" % cancel_reason(task, meta)
	return error_message_of(task.get("error"))


## Why a task was cancelled: from the task.cancelled event, else the task's error.reason.
static func cancel_reason(task: Dictionary, meta: Dictionary) -> String:
	var from_error := AgentVMJson.string_of(AgentVMJson.dict_of(task, "error"), "reason", "cancelled")
	return str(meta.get("reason", from_error))


# --- Internals ----------------------------------------------------------------------------------

func _task_created(task: Dictionary, now: float) -> Array[Dictionary]:
	var metadata := AgentVMJson.dict_of(task, "metadata")
	var client_id := AgentVMJson.string_of(metadata, AgentVMRequests.CLIENT_REF_KEY)
	if client_id != "" and _pending_runs.has(client_id):
		return link_run(client_id, task, now)
	return apply_task(task, now)


## Merges what is now known of a task and notifies the transitions it implies.
func _merge_task(id: String, patch: Dictionary, now: float) -> Array[Dictionary]:
	if id == "":
		return []
	var notes: Array[Dictionary] = []
	var before: Dictionary = tasks.get(id, {})
	var was := AgentVMJson.string_of(before, "status")
	if is_final(was):
		return notes
	var task := before.duplicate(true)
	task.merge(patch, true)
	task["id"] = id
	tasks[id] = task
	var status := AgentVMJson.string_of(task, "status")
	var shown_id := public_id(id)
	var meta := _meta_of(id)
	if status != was:
		match status:
			"running":
				if not meta.has("started_at"):
					meta["started_at"] = now
				notes.append(_note("task_started", [shown_id, AgentVMJson.string_of(task, "description")]))
			"completed":
				notes.append(_note("task_completed", [shown_id, output_of(task.get("result"))]))
			"failed":
				notes.append(_note("task_failed", [shown_id, error_message_of(task.get("error"))]))
			"cancelled":
				var reason := cancel_reason(task, meta)
				notes.append(_note("task_cancelled", [shown_id, reason]))
				if meta.get("origin", "") == "run_agent":
					# The first plugin reported a cancellation as a failure; its callers listen there.
					notes.append(_note("task_failed", [shown_id, "Cancelled: %s" % reason]))
	if patch.has("progress") and status == "running" and not is_equal_approx(AgentVMJson.number_of(before, "progress", -1.0), AgentVMJson.number_of(task, "progress")):
		notes.append(_note("task_progress", [shown_id, AgentVMJson.number_of(task, "progress")]))
	if is_final(status) and not is_final(was):
		meta["finished_at"] = now
		_finished.append(id)
		_forget_old_tasks()
	var view := task.duplicate(true)
	view["id"] = shown_id
	view["task_id"] = id
	notes.append(_note("task_updated", [view]))
	return notes


func _agent_state(agent_id: String, data: Dictionary) -> Array[Dictionary]:
	if agent_id == "":
		return []
	var status := AgentVMJson.string_of(data, "status")
	var activity := AgentVMJson.string_of(data, "activity")
	if not agents.has(agent_id):
		return [_note("_fetch_agent", [agent_id]), _note("agent_state_changed", [agent_id, status, activity])]
	var agent: Dictionary = agents[agent_id]
	agent["status"] = status
	agent["activity"] = data.get("activity")
	agent["activity_detail"] = data.get("activity_detail")
	agent["current_task_id"] = data.get("task_id")
	return [_note("agent_state_changed", [agent_id, status, activity])]


func _agent_moved(agent_id: String, data: Dictionary) -> Array[Dictionary]:
	if agent_id == "":
		return []
	var position := AgentVMJson.vector3_of(data, "position")
	var rotation_y := AgentVMJson.number_of(data, "rotation_y")
	var notes: Array[Dictionary] = []
	if agents.has(agent_id):
		var agent: Dictionary = agents[agent_id]
		agent["position"] = AgentVMJson.position_object(position)
		agent["rotation_y"] = rotation_y
		agent["scene_id"] = data.get("scene_id")
	else:
		notes.append(_note("_fetch_agent", [agent_id]))
	notes.append(_note("agent_moved", [agent_id, position, rotation_y]))
	return notes


## A REST answer is stale when events already moved the task further: a finished task does not
## reopen, and a task does not step back (running → queued) unless a retry raised its attempts.
func _is_stale(known: Dictionary, answer: Dictionary) -> bool:
	var known_status := AgentVMJson.string_of(known, "status")
	var answer_status := AgentVMJson.string_of(answer, "status", known_status)
	if is_final(known_status):
		return true
	if _rank(answer_status) < _rank(known_status):
		return AgentVMJson.int_of(answer, "attempts") <= AgentVMJson.int_of(known, "attempts")
	return false


static func _rank(status: String) -> int:
	match status:
		"queued":
			return 0
		"assigned":
			return 1
		"running":
			return 2
	return 3 if is_final(status) else 0


func _meta_of(id: String) -> Dictionary:
	if not _meta.has(id):
		_meta[id] = {}
	return _meta[id]


func _forget_old_tasks() -> void:
	while _finished.size() > HISTORY_LIMIT:
		var id: String = _finished.pop_front()
		tasks.erase(id)
		_meta.erase(id)
		var client_id := str(_server_to_client.get(id, ""))
		_server_to_client.erase(id)
		_client_to_server.erase(client_id)


static func _note(signal_name: String, args: Array) -> Dictionary:
	return {"signal": signal_name, "args": args}
