@icon("res://addons/agentvm/icon.svg")
class_name AgentNPC2D
extends Node2D
## One agent as a 2D NPC (top-down: world x/z become screen x/y): a disc in its status colour,
## its name and status, a task bubble with a progress bar, an animation per activity, and smooth
## movement to the server position. Same methods as AgentNPC3D, so AgentWorld drives either.

const STATUS_COLOURS := {
	"idle": Color(0.13, 0.77, 0.37),
	"busy": Color(0.39, 0.4, 0.95),
	"offline": Color(0.58, 0.64, 0.72),
	"error": Color(0.94, 0.27, 0.27),
}
const RADIUS := 12.0
const BAR_SIZE := Vector2(44.0, 5.0)

## Pixels per world unit.
@export var world_scale: float = 32.0
## How fast the NPC closes the distance to its server position (1/s).
@export var follow_speed: float = 6.0
## Farther than this (in world units) from its target, the NPC jumps instead of gliding.
@export var snap_distance: float = 25.0
## Animate itself in _process (AgentWorld turns this off and calls tick()).
@export var self_process: bool = true

var agent_id: String = ""
var display_name: String = ""
var status: String = "idle"
var activity: String = ""
var activity_detail: String = ""
var task_text: String = ""
var progress: float = -1.0
var target_position: Vector3 = Vector3.ZERO
var target_rotation_y: float = 0.0
var animation_quality: int = AgentVMSettings.QUALITY_HIGH
var effects: bool = true
var labels_visible: bool = true

var _name_label: Label
var _status_label: Label
var _task_label: Label
var _time: float = 0.0
var _flash: float = 0.0
var _bounce: float = 0.0
var _show_labels: bool = true
var _placed: bool = false
var _lod_level: int = AgentVMLod.NEAR


func _ready() -> void:
	_name_label = _label("NameLabel", Vector2(-60.0, 16.0), 13)
	_status_label = _label("StatusLabel", Vector2(-60.0, 32.0), 11)
	_task_label = _label("TaskLabel", Vector2(-60.0, -44.0), 11)
	set_process(self_process)
	_refresh()


func _process(delta: float) -> void:
	tick(delta)


## Shows an agent (the API's agent object).
func apply_agent(agent: Dictionary) -> void:
	agent_id = AgentVMJson.string_of(agent, "id", agent_id)
	display_name = AgentVMJson.string_of(agent, "name", display_name)
	set_target(AgentVMJson.vector3_of(agent, "position", target_position), AgentVMJson.number_of(agent, "rotation_y", target_rotation_y))
	set_state(AgentVMJson.string_of(agent, "status", status), AgentVMJson.string_of(agent, "activity"), AgentVMJson.string_of(agent, "activity_detail"))


## Shows a status (colour) and an activity.
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


## The server position (world units; x and z are used) to glide to.
func set_target(new_position: Vector3, rotation_y: float) -> void:
	target_position = new_position
	target_rotation_y = rotation_y
	var target := _to_screen(new_position)
	if not _placed or position.distance_to(target) > snap_distance * world_scale:
		position = target
		_placed = true


## Level of detail: AgentVMLod.NEAR shows labels, FAR hides them.
func set_lod(level: int) -> void:
	_lod_level = level
	_show_labels = level == AgentVMLod.NEAR and labels_visible
	if _name_label != null:
		_name_label.visible = _show_labels
		_status_label.visible = _show_labels
		_task_label.visible = _show_labels and task_text != ""
	queue_redraw()


## Distance (world units) from the centre of the view.
func distance_to_viewer() -> float:
	if not is_inside_tree():
		return 0.0
	var centre := get_viewport().get_visible_rect().size * 0.5
	var camera: Camera2D = get_viewport().get_camera_2d()
	if camera != null:
		centre = camera.get_screen_center_position()
	return global_position.distance_to(centre) / maxf(world_scale, 0.001)


## Advances movement and animation by [param delta] seconds.
func tick(delta: float) -> void:
	_time += delta
	position = position.lerp(_to_screen(target_position), 1.0 - exp(-follow_speed * delta))
	var bounce := 0.0
	if animation_quality > AgentVMSettings.QUALITY_OFF:
		match activity:
			"thinking":
				bounce = sin(_time * 1.5) * 2.0
			"coding", "testing":
				bounce = absf(sin(_time * 12.0)) * 2.0
			"speaking", "collaborating":
				bounce = absf(sin(_time * 6.0)) * 3.0
	if _flash > 0.0:
		_flash = maxf(0.0, _flash - delta * 2.0)
	if not is_equal_approx(bounce, _bounce) or _flash > 0.0:
		_bounce = bounce
		queue_redraw()


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
	_refresh()


func _draw() -> void:
	var colour: Color = STATUS_COLOURS.get(status, STATUS_COLOURS["offline"])
	var centre := Vector2(0.0, -_bounce)
	if _flash > 0.0:
		draw_circle(centre, RADIUS + 6.0 * _flash, Color(colour, 0.35 * _flash))
	draw_circle(centre, RADIUS, colour)
	if progress >= 0.0 and _show_labels:
		var origin := Vector2(-BAR_SIZE.x * 0.5, -RADIUS - 12.0)
		draw_rect(Rect2(origin, BAR_SIZE), Color(0.15, 0.15, 0.2))
		draw_rect(Rect2(origin, Vector2(BAR_SIZE.x * progress, BAR_SIZE.y)), Color(0.39, 0.4, 0.95))


func _refresh() -> void:
	if _name_label == null:
		return
	_name_label.text = display_name if display_name != "" else "agent"
	var shown_activity := activity_detail if activity_detail != "" else activity
	_status_label.text = status + (" · " + shown_activity if shown_activity != "" else "")
	_task_label.text = task_text.left(32) + (" %d%%" % int(progress * 100.0) if progress >= 0.0 else "")
	set_lod(_lod_level)


func _to_screen(world: Vector3) -> Vector2:
	return Vector2(world.x, world.z) * world_scale


func _label(part_name: String, offset: Vector2, font_size: int) -> Label:
	var label := get_node_or_null(part_name) as Label
	if label == null:
		label = Label.new()
		label.name = part_name
		label.position = offset
		label.size = Vector2(120.0, 16.0)
		label.horizontal_alignment = HORIZONTAL_ALIGNMENT_CENTER
		label.add_theme_font_size_override("font_size", font_size)
		add_child(label)
	return label
