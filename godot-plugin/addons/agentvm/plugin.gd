@tool
extends EditorPlugin
## Enabling the plugin registers the AgentVM autoload and the agentvm/… project settings;
## entering the editor adds the AgentVM dock. Disabling and leaving remove exactly those.

const AUTOLOAD_NAME := "AgentVM"
const AUTOLOAD_PATH := "res://addons/agentvm/agentvm_manager.gd"
const Dock := preload("res://addons/agentvm/editor/agentvm_dock.gd")
const Settings := preload("res://addons/agentvm/core/agentvm_settings.gd")

var _dock: Control = null


func _enable_plugin() -> void:
	add_autoload_singleton(AUTOLOAD_NAME, AUTOLOAD_PATH)
	Settings.register_all()
	ProjectSettings.save()


func _disable_plugin() -> void:
	remove_autoload_singleton(AUTOLOAD_NAME)
	Settings.unregister_defaults()
	ProjectSettings.save()


func _enter_tree() -> void:
	# Property hints are not saved in project.godot: register them again in every session.
	Settings.register_all()
	_dock = Dock.new() as Control
	_dock.name = "AgentVM"
	add_control_to_dock(DOCK_SLOT_RIGHT_UL, _dock)


func _exit_tree() -> void:
	if _dock != null:
		remove_control_from_docks(_dock)
		_dock.queue_free()
		_dock = null


func _get_plugin_name() -> String:
	return "AgentVM"
