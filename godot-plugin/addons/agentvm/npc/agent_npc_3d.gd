@icon("res://addons/agentvm/icon.svg")
class_name AgentNPC3D
extends Node3D
## One agent as a 3D NPC: a body in its status colour, its name and status (with the activity)
## above it, a bubble with the current task and a progress bar, an animation per activity, and
## smooth movement to the server position. AgentWorld drives it (pooling, level of detail); on
## its own it animates itself. Works with agent_npc_3d.tscn (restyle it freely: parts are found
## by name) or as AgentNPC3D.new(), which builds default parts.

## Status colours: idle, busy, offline, error.
const STATUS_COLOURS := {
	"idle": Color(0.13, 0.77, 0.37),
	"busy": Color(0.39, 0.4, 0.95),
	"offline": Color(0.58, 0.64, 0.72),
	"error": Color(0.94, 0.27, 0.27),
}
const BAR_WIDTH := 1.2
const BAR_HEIGHT := 0.12

## How fast the NPC closes the distance to its server position (1/s; higher is snappier).
@export var follow_speed: float = 6.0
## Farther than this from its target, the NPC jumps instead of gliding (a teleport, a respawn).
@export var snap_distance: float = 25.0
## Animate itself in _process (AgentWorld turns this off and calls tick() on its own schedule).
@export var self_process: bool = true

## The agent this NPC shows ("" while pooled).
var agent_id: String = ""
var display_name: String = ""
var status: String = "idle"
var activity: String = ""
var activity_detail: String = ""
var task_text: String = ""
var progress: float = -1.0
var target_position: Vector3 = Vector3.ZERO
var target_rotation_y: float = 0.0
## 0 = animations off, 1 = low, 2 = high (agentvm/visual/animation_quality).
var animation_quality: int = AgentVMSettings.QUALITY_HIGH
## Flash when the status changes (agentvm/visual/effects).
var effects: bool = true
## Show the name, status and task labels (hidden at the far level of detail).
var labels_visible: bool = true

var _body: MeshInstance3D
var _body_material: StandardMaterial3D
var _name_label: Label3D
var _status_label: Label3D
var _task_label: Label3D
var _bar_back: MeshInstance3D
var _bar_fill: MeshInstance3D
var _bar_mesh: QuadMesh
var _time: float = 0.0
var _flash: float = 0.0
var _body_rest: Vector3 = Vector3(0.0, 0.8, 0.0)
var _placed: bool = false
var _lod_level: int = AgentVMLod.NEAR


func _ready() -> void:
	_find_or_build_parts()
	set_process(self_process)
	_refresh()


func _process(delta: float) -> void:
	tick(delta)


## Shows an agent (the API's agent object): name, status, activity, position.
func apply_agent(agent: Dictionary) -> void:
	agent_id = AgentVMJson.string_of(agent, "id", agent_id)
	display_name = AgentVMJson.string_of(agent, "name", display_name)
	set_target(AgentVMJson.vector3_of(agent, "position", target_position), AgentVMJson.number_of(agent, "rotation_y", target_rotation_y))
	set_state(AgentVMJson.string_of(agent, "status", status), AgentVMJson.string_of(agent, "activity"), AgentVMJson.string_of(agent, "activity_detail"))


## Shows a status (colour) and an activity (animation, and text under the name).
func set_state(new_status: String, new_activity: String, detail: String = "") -> void:
	if new_status != status and effects and is_inside_tree():
		_flash = 1.0
	status = new_status
	activity = new_activity
	activity_detail = detail
	if status != "busy":
		task_text = ""
		progress = -1.0
	_refresh()


## Shows the current task and its progress (0–1); an empty text hides the bubble.
func set_task(text: String, task_progress: float) -> void:
	task_text = text
	progress = clampf(task_progress, 0.0, 1.0) if text != "" else -1.0
	_refresh()


## The server position to glide to.
func set_target(new_position: Vector3, rotation_y: float) -> void:
	target_position = new_position
	target_rotation_y = rotation_y
	if not _placed or position.distance_to(new_position) > snap_distance:
		position = new_position
		rotation.y = rotation_y
		_placed = true


## Level of detail: AgentVMLod.NEAR shows labels, FAR hides them.
func set_lod(level: int) -> void:
	_lod_level = level
	var shown := level == AgentVMLod.NEAR and labels_visible
	for label: Label3D in [_name_label, _status_label]:
		if label != null:
			label.visible = shown
	if _task_label != null:
		_task_label.visible = shown and task_text != ""
	for bar: MeshInstance3D in [_bar_back, _bar_fill]:
		if bar != null:
			bar.visible = shown and progress >= 0.0


## Distance to the active 3D camera (0 when there is none).
func distance_to_viewer() -> float:
	if not is_inside_tree():
		return 0.0
	var camera: Camera3D = get_viewport().get_camera_3d()
	if camera == null:
		return 0.0
	return camera.global_position.distance_to(global_position)


## Advances movement and animation by [param delta] seconds.
func tick(delta: float) -> void:
	_time += delta
	var weight := 1.0 - exp(-follow_speed * delta)
	position = position.lerp(target_position, weight)
	rotation.y = lerp_angle(rotation.y, target_rotation_y, weight)
	_animate(delta)


## Clears the NPC for reuse from a pool.
func reset() -> void:
	agent_id = ""
	display_name = ""
	status = "idle"
	activity = ""
	activity_detail = ""
	task_text = ""
	progress = -1.0
	_placed = false
	_flash = 0.0
	_time = 0.0
	if _body != null:
		_body.position = _body_rest
		_body.rotation = Vector3.ZERO
		_body.scale = Vector3.ONE
	_refresh()


func _animate(delta: float) -> void:
	if _body == null:
		return
	var offset := Vector3.ZERO
	var tilt := 0.0
	var turn := 0.0
	var pulse := 1.0
	var moving := position.distance_to(target_position) > 0.05
	if animation_quality > AgentVMSettings.QUALITY_OFF:
		var t := _time
		var key := "moving" if moving else activity
		match key:
			"moving":
				offset.y = absf(sin(t * 10.0)) * 0.12
			"thinking":
				offset.y = sin(t * 1.5) * 0.05
				tilt = sin(t * 0.8) * 0.15
			"coding":
				offset.y = absf(sin(t * 14.0)) * 0.04
			"testing":
				offset.x = sin(t * 4.0) * 0.08
			"reviewing":
				turn = sin(t * 1.2) * 0.5
			"speaking":
				pulse = 1.0 + absf(sin(t * 8.0)) * 0.06
			"collaborating":
				turn = sin(t * 2.0) * 0.3
				offset.y = absf(sin(t * 4.0)) * 0.05
			"waiting":
				pulse = 1.0 + sin(t * 2.0) * 0.02
		if animation_quality == AgentVMSettings.QUALITY_LOW:
			tilt = 0.0
			turn = 0.0
			offset.x = 0.0
	_body.position = _body_rest + offset
	_body.rotation = Vector3(0.0, turn, tilt)
	_body.scale = Vector3(pulse, pulse, pulse)
	if _flash > 0.0 and _body_material != null:
		_flash = maxf(0.0, _flash - delta * 2.0)
		_body_material.emission_energy_multiplier = _flash * 2.0


func _refresh() -> void:
	if _body_material == null:
		return
	var colour: Color = STATUS_COLOURS.get(status, STATUS_COLOURS["offline"])
	_body_material.albedo_color = colour
	_body_material.emission = colour
	_name_label.text = display_name if display_name != "" else "agent"
	var shown_activity := activity_detail if activity_detail != "" else activity
	_status_label.text = status + (" · " + shown_activity if shown_activity != "" else "")
	_status_label.modulate = colour.lightened(0.3)
	_task_label.text = task_text.left(40) + ("… " if task_text.length() > 40 else " ") + ("%d%%" % int(progress * 100.0) if progress >= 0.0 else "")
	var fill := clampf(progress, 0.0, 1.0) * BAR_WIDTH
	_bar_mesh.size = Vector2(maxf(fill, 0.001), BAR_HEIGHT)
	# Left-aligned fill: the offset is part of the mesh, so it stays aligned when billboarded.
	_bar_mesh.center_offset = Vector3((fill - BAR_WIDTH) * 0.5, 0.0, 0.01)
	set_lod(_lod_level)


func _find_or_build_parts() -> void:
	_body = get_node_or_null("Body") as MeshInstance3D
	if _body == null:
		_body = MeshInstance3D.new()
		_body.name = "Body"
		var capsule := CapsuleMesh.new()
		capsule.radius = 0.35
		capsule.height = 1.6
		_body.mesh = capsule
		_body.position = _body_rest
		add_child(_body)
	_body_rest = _body.position
	_body_material = StandardMaterial3D.new()
	_body_material.emission_enabled = true
	_body_material.emission_energy_multiplier = 0.0
	_body.material_override = _body_material
	_name_label = _label("NameLabel", 2.05, 40)
	_status_label = _label("StatusLabel", 1.8, 28)
	_task_label = _label("TaskLabel", 2.65, 26)
	var back_mesh := QuadMesh.new()
	back_mesh.size = Vector2(BAR_WIDTH, BAR_HEIGHT)
	_bar_back = _bar("ProgressBack", Color(0.15, 0.15, 0.2), back_mesh)
	_bar_mesh = QuadMesh.new()
	_bar_fill = _bar("ProgressFill", Color(0.39, 0.4, 0.95), _bar_mesh)


func _label(part_name: String, height: float, font_size: int) -> Label3D:
	var label := get_node_or_null(part_name) as Label3D
	if label == null:
		label = Label3D.new()
		label.name = part_name
		label.position = Vector3(0.0, height, 0.0)
		label.font_size = font_size
		label.outline_size = 8
		add_child(label)
	label.billboard = BaseMaterial3D.BILLBOARD_ENABLED
	return label


func _bar(part_name: String, colour: Color, mesh: QuadMesh) -> MeshInstance3D:
	var bar := get_node_or_null(part_name) as MeshInstance3D
	if bar == null:
		bar = MeshInstance3D.new()
		bar.name = part_name
		bar.position = Vector3(0.0, 2.4, 0.0)
		add_child(bar)
	bar.mesh = mesh
	bar.cast_shadow = GeometryInstance3D.SHADOW_CASTING_SETTING_OFF
	var material := StandardMaterial3D.new()
	material.shading_mode = BaseMaterial3D.SHADING_MODE_UNSHADED
	material.billboard_mode = BaseMaterial3D.BILLBOARD_ENABLED
	material.albedo_color = colour
	bar.material_override = material
	return bar
