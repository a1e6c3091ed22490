@tool
extends VBoxContainer
## The AgentVM editor dock: connection state and a connection test that says what is wrong
## (unreachable, bad key, wrong version), the game's agents live (status, activity, current task,
## progress), and controls to create an agent and to assign, cancel or delete. It uses its own
## AgentVMManager, so it works while the game is not running.

const COLUMNS := ["Name", "Type", "Status", "Activity", "Task", "Progress"]
const AGENT_TYPES := ["aider", "opencode", "claude", "custom"]
const REFRESH_S := 0.25
const PREVIEW_GAME := "editor-preview"

var _manager: AgentVMManager
var _status: Label
var _endpoint: LineEdit
var _key: LineEdit
var _game: LineEdit
var _tree: Tree
var _type: OptionButton
var _agent_name: LineEdit
var _description: LineEdit
var _task_type: LineEdit
var _message: Label
var _dirty: bool = true
var _since_refresh: float = 0.0


func _ready() -> void:
	custom_minimum_size = Vector2(240.0, 0.0)
	_status = Label.new()
	add_child(_status)
	_endpoint = _line_edit(AgentVMSettings.endpoint(), "http://localhost:8000")
	_key = _line_edit(AgentVMSettings.api_key(), "API key (or AGENTVM_API_KEY)")
	_key.secret = true
	var configured_game := AgentVMSettings.string_value(AgentVMSettings.GAME_ID)
	_game = _line_edit(configured_game if configured_game != "" else PREVIEW_GAME, "game id")
	var connection := HBoxContainer.new()
	add_child(connection)
	_button(connection, "Connect", _on_connect)
	_button(connection, "Test connection", _on_test)
	_button(connection, "Disconnect", _on_disconnect)
	_tree = Tree.new()
	_tree.columns = COLUMNS.size()
	_tree.column_titles_visible = true
	_tree.hide_root = true
	_tree.select_mode = Tree.SELECT_ROW
	_tree.custom_minimum_size = Vector2(0.0, 200.0)
	_tree.size_flags_vertical = Control.SIZE_EXPAND_FILL
	for column: int in COLUMNS.size():
		_tree.set_column_title(column, COLUMNS[column])
	add_child(_tree)
	var create := HBoxContainer.new()
	add_child(create)
	_type = OptionButton.new()
	for type_name: String in AGENT_TYPES:
		_type.add_item(type_name)
	create.add_child(_type)
	_agent_name = LineEdit.new()
	_agent_name.placeholder_text = "name (optional)"
	_agent_name.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	create.add_child(_agent_name)
	_button(create, "Create agent", _on_create)
	_description = _line_edit("", "task for the selected agent (none selected: any agent)")
	var task := HBoxContainer.new()
	add_child(task)
	_task_type = LineEdit.new()
	_task_type.text = "general"
	_task_type.placeholder_text = "task type"
	_task_type.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	task.add_child(_task_type)
	_button(task, "Assign", _on_assign)
	_button(task, "Cancel task", _on_cancel)
	_button(task, "Delete agent", _on_delete)
	_message = Label.new()
	_message.autowrap_mode = TextServer.AUTOWRAP_WORD_SMART
	add_child(_message)
	_manager = AgentVMManager.new()
	_manager.name = "DockManager"
	_manager.log_errors = false
	add_child(_manager)
	_manager.connection_status_changed.connect(func(_live: bool) -> void: _update_status())
	_manager.error_occurred.connect(func(error: AgentVMResult) -> void: _show(error.message))
	_manager.agent_created.connect(_mark_dirty.unbind(1))
	_manager.agent_deleted.connect(_mark_dirty.unbind(1))
	_manager.agent_state_changed.connect(_mark_dirty.unbind(3))
	_manager.task_updated.connect(_mark_dirty.unbind(1))
	_update_status()


func _process(delta: float) -> void:
	_since_refresh += delta
	if _dirty and _since_refresh >= REFRESH_S:
		_since_refresh = 0.0
		_dirty = false
		_refresh_tree()


func _line_edit(text: String, placeholder: String) -> LineEdit:
	var edit := LineEdit.new()
	edit.text = text
	edit.placeholder_text = placeholder
	add_child(edit)
	return edit


func _button(parent: Control, text: String, handler: Callable) -> Button:
	var button := Button.new()
	button.text = text
	button.pressed.connect(handler)
	parent.add_child(button)
	return button


func _mark_dirty() -> void:
	_dirty = true


func _show(text: String) -> void:
	_message.text = text


func _update_status() -> void:
	if _manager.is_live():
		_status.text = "● Live: %s, game %s" % [_manager.endpoint, _manager.game_id if _manager.game_id != "" else "(all)"]
		_status.modulate = Color(0.4, 0.9, 0.5)
	elif _manager.is_api_connected():
		_status.text = "● Connected (live stream reconnecting)"
		_status.modulate = Color(0.95, 0.8, 0.3)
	else:
		_status.text = "● Not connected"
		_status.modulate = Color(0.7, 0.7, 0.7)


func _on_test() -> void:
	_show("Testing %s …" % _endpoint.text)
	var result: AgentVMResult = await _manager.test_connection(_endpoint.text, _key.text)
	if result.is_error():
		_show("%s: %s" % [result.code, result.message])
		return
	var info := result.data_dict()
	_show("OK: AgentVM API %s at %s; key \"%s\" (%s)" % [info["version"], info["endpoint"], info["key_name"], ", ".join(PackedStringArray(AgentVMJson.array_of(info, "scopes")))])


func _on_connect() -> void:
	_show("Connecting to %s …" % _endpoint.text)
	var ok: bool = await _manager.connect_to_api(_endpoint.text, _key.text)
	if not ok:
		_update_status()
		return
	var session: Variant = await _manager.connect_game(_game.text.strip_edges())
	if session is AgentVMResult:
		return
	_show("Connected to game %s" % _manager.game_id)
	_update_status()
	_mark_dirty()


func _on_disconnect() -> void:
	_manager.disconnect_from_api()
	_update_status()
	_show("Disconnected")


func _on_create() -> void:
	var options := {}
	if _agent_name.text.strip_edges() != "":
		options["name"] = _agent_name.text.strip_edges()
	var created: Variant = await _manager.create_agent(_type.get_item_text(_type.selected), options)
	if created is String:
		_show("Created agent %s" % created)
		_agent_name.text = ""


func _on_assign() -> void:
	if _description.text.strip_edges() == "":
		_show("Write the task first")
		return
	var agent_id := _selected_agent()
	var assigned: Variant = await _manager.assign_task(agent_id, _description.text.strip_edges(), _task_type.text.strip_edges())
	if assigned is String:
		_show("Task %s queued%s" % [assigned, "" if agent_id == "" else " for the selected agent"])
		_description.text = ""


func _on_cancel() -> void:
	var agent := _manager.get_cached_agent(_selected_agent())
	var task_id := AgentVMJson.string_of(agent, "current_task_id")
	if task_id == "":
		_show("Select an agent that is working on a task")
		return
	var cancelled: Variant = await _manager.cancel_task(task_id)
	if cancelled is Dictionary:
		_show("Task %s cancelled" % task_id)


func _on_delete() -> void:
	var agent_id := _selected_agent()
	if agent_id == "":
		_show("Select an agent first")
		return
	var deleted: Variant = await _manager.delete_agent(agent_id)
	if deleted is bool:
		_show("Agent deleted")


func _selected_agent() -> String:
	var item := _tree.get_selected()
	if item == null:
		return ""
	return str(item.get_metadata(0))


func _refresh_tree() -> void:
	var selected := _selected_agent()
	_tree.clear()
	var root := _tree.create_item()
	for agent: Dictionary in _manager.get_agents():
		var id := AgentVMJson.string_of(agent, "id")
		var task := _manager.get_task(AgentVMJson.string_of(agent, "current_task_id"))
		var item := _tree.create_item(root)
		item.set_metadata(0, id)
		item.set_text(0, AgentVMJson.string_of(agent, "name"))
		item.set_text(1, AgentVMJson.string_of(agent, "agent_type"))
		item.set_text(2, AgentVMJson.string_of(agent, "status"))
		item.set_text(3, AgentVMJson.string_of(agent, "activity_detail", AgentVMJson.string_of(agent, "activity")))
		item.set_text(4, AgentVMJson.string_of(task, "description"))
		item.set_text(5, "%d%%" % int(AgentVMJson.number_of(task, "progress") * 100.0) if not task.is_empty() else "")
		if id == selected:
			item.select(0)
