@tool
class_name AgentVMSettings
extends RefCounted
## The plugin's project settings, all under agentvm/…: their names, types, defaults and editor
## hints in one table, read with a fallback to the default. plugin.gd registers them from here.

const ENDPOINT := "agentvm/api/endpoint"
const API_KEY := "agentvm/api/api_key"
const ENVIRONMENT := "agentvm/api/environment"
const AUTO_CONNECT := "agentvm/api/auto_connect"
const GAME_ID := "agentvm/api/game_id"
const TIMEOUT_S := "agentvm/api/timeout_s"
const RETRY_ATTEMPTS := "agentvm/api/retry_attempts"
const DEFAULT_AGENT_TYPE := "agentvm/agents/default_agent_type"
const AUTO_SPAWN := "agentvm/agents/auto_spawn"
const EFFECTS := "agentvm/visual/effects"
const ANIMATION_QUALITY := "agentvm/visual/animation_quality"
const SHOW_LABELS := "agentvm/visual/show_labels"
const POSITION_SEND_RATE := "agentvm/performance/position_send_rate"
const NPC_UPDATE_RATE := "agentvm/performance/npc_update_rate"
const LOD_DISTANCE := "agentvm/performance/lod_distance"
const NPC_POOL_SIZE := "agentvm/performance/npc_pool_size"

## The environment variable that overrides agentvm/api/api_key (keeps keys out of project.godot).
const API_KEY_ENV := "AGENTVM_API_KEY"

## Animation quality levels.
const QUALITY_OFF := 0
const QUALITY_LOW := 1
const QUALITY_HIGH := 2

## Every setting: name, type, default, editor hint, and whether it shows without "Advanced".
const DEFINITIONS := [
	{"name": ENDPOINT, "type": TYPE_STRING, "default": "http://localhost:8000", "hint": PROPERTY_HINT_NONE, "hint_string": "", "basic": true},
	{"name": API_KEY, "type": TYPE_STRING, "default": "", "hint": PROPERTY_HINT_NONE, "hint_string": "", "basic": true},
	{"name": ENVIRONMENT, "type": TYPE_STRING, "default": "development", "hint": PROPERTY_HINT_ENUM, "hint_string": "development,staging,production,testing", "basic": true},
	{"name": AUTO_CONNECT, "type": TYPE_BOOL, "default": false, "hint": PROPERTY_HINT_NONE, "hint_string": "", "basic": true},
	{"name": GAME_ID, "type": TYPE_STRING, "default": "", "hint": PROPERTY_HINT_NONE, "hint_string": "", "basic": true},
	{"name": TIMEOUT_S, "type": TYPE_FLOAT, "default": 30.0, "hint": PROPERTY_HINT_RANGE, "hint_string": "1,600,1,suffix:s", "basic": false},
	{"name": RETRY_ATTEMPTS, "type": TYPE_INT, "default": 3, "hint": PROPERTY_HINT_RANGE, "hint_string": "0,10", "basic": false},
	{"name": DEFAULT_AGENT_TYPE, "type": TYPE_STRING, "default": "aider", "hint": PROPERTY_HINT_NONE, "hint_string": "", "basic": true},
	{"name": AUTO_SPAWN, "type": TYPE_BOOL, "default": true, "hint": PROPERTY_HINT_NONE, "hint_string": "", "basic": true},
	{"name": EFFECTS, "type": TYPE_BOOL, "default": true, "hint": PROPERTY_HINT_NONE, "hint_string": "", "basic": false},
	{"name": ANIMATION_QUALITY, "type": TYPE_INT, "default": QUALITY_HIGH, "hint": PROPERTY_HINT_ENUM, "hint_string": "Off,Low,High", "basic": false},
	{"name": SHOW_LABELS, "type": TYPE_BOOL, "default": true, "hint": PROPERTY_HINT_NONE, "hint_string": "", "basic": false},
	{"name": POSITION_SEND_RATE, "type": TYPE_FLOAT, "default": 10.0, "hint": PROPERTY_HINT_RANGE, "hint_string": "1,60,1,suffix:/s", "basic": false},
	{"name": NPC_UPDATE_RATE, "type": TYPE_FLOAT, "default": 10.0, "hint": PROPERTY_HINT_RANGE, "hint_string": "1,60,1,suffix:/s", "basic": false},
	{"name": LOD_DISTANCE, "type": TYPE_FLOAT, "default": 30.0, "hint": PROPERTY_HINT_RANGE, "hint_string": "0,1000,1,suffix:m", "basic": false},
	{"name": NPC_POOL_SIZE, "type": TYPE_INT, "default": 64, "hint": PROPERTY_HINT_RANGE, "hint_string": "0,4096", "basic": false},
]


## The definition of a setting, or {} for a name that is not one of the plugin's.
static func definition(setting_name: String) -> Dictionary:
	for entry: Dictionary in DEFINITIONS:
		if entry["name"] == setting_name:
			return entry
	return {}


## The default of a setting (null for an unknown name).
static func default_of(setting_name: String) -> Variant:
	return definition(setting_name).get("default")


## The value of a setting: the project's, or the default when unset or of the wrong type.
static func value_of(setting_name: String) -> Variant:
	var fallback: Variant = default_of(setting_name)
	if not ProjectSettings.has_setting(setting_name):
		return fallback
	return coerce(ProjectSettings.get_setting(setting_name, fallback), fallback)


## [param value] when it has the default's type (ints and floats convert), else the default.
static func coerce(value: Variant, fallback: Variant) -> Variant:
	if fallback == null or typeof(value) == typeof(fallback):
		return value
	if fallback is float and value is int:
		return float(value)
	if fallback is int and value is float:
		return int(value)
	return fallback


## A string setting.
static func string_value(setting_name: String) -> String:
	var value: Variant = value_of(setting_name)
	if value is String:
		return value
	return ""


## A boolean setting.
static func bool_value(setting_name: String) -> bool:
	var value: Variant = value_of(setting_name)
	if value is bool:
		return value
	return false


## A float setting.
static func float_value(setting_name: String) -> float:
	var value: Variant = value_of(setting_name)
	if value is float or value is int:
		return float(value)
	return 0.0


## An int setting.
static func int_value(setting_name: String) -> int:
	var value: Variant = value_of(setting_name)
	if value is float or value is int:
		return int(value)
	return 0


## The API key: the AGENTVM_API_KEY environment variable when set, else the project setting.
static func api_key() -> String:
	return resolve_api_key(OS.get_environment(API_KEY_ENV), string_value(API_KEY))


## The key that wins: the environment's when set (keys stay out of project.godot and version
## control), else the setting's.
static func resolve_api_key(environment_value: String, setting_value: String) -> String:
	var from_environment := environment_value.strip_edges()
	return from_environment if from_environment != "" else setting_value.strip_edges()


## The endpoint setting, normalized.
static func endpoint() -> String:
	return AgentVMProtocol.normalize_endpoint(string_value(ENDPOINT))


## Adds every setting that is missing with its default, and its editor hint. The property hints
## are not saved in project.godot, so this runs each time the plugin enters the editor.
static func register_all() -> void:
	for entry: Dictionary in DEFINITIONS:
		var setting_name: String = entry["name"]
		if not ProjectSettings.has_setting(setting_name):
			ProjectSettings.set_setting(setting_name, entry["default"])
		ProjectSettings.set_initial_value(setting_name, entry["default"])
		ProjectSettings.set_as_basic(setting_name, bool(entry["basic"]))
		ProjectSettings.add_property_info({
			"name": setting_name,
			"type": entry["type"],
			"hint": entry["hint"],
			"hint_string": entry["hint_string"],
		})


## Removes the settings that still hold their default. Values the user changed (the endpoint,
## a key) stay in project.godot, so disabling and re-enabling the plugin does not lose them.
static func unregister_defaults() -> void:
	for entry: Dictionary in DEFINITIONS:
		var setting_name: String = entry["name"]
		if not ProjectSettings.has_setting(setting_name):
			continue
		var current: Variant = ProjectSettings.get_setting(setting_name)
		if typeof(current) == typeof(entry["default"]) and current == entry["default"]:
			ProjectSettings.set_setting(setting_name, null)
