@tool
class_name AgentVMLod
extends RefCounted
## Level-of-detail rules for many NPCs: near ones update every frame with labels shown; far ones
## update a few times a second without labels, spread over frames so a thousand NPCs do not all
## update in the same frame.

## Within lod_distance of the camera: every frame, labels and animations.
const NEAR := 0
## Beyond lod_distance: labels hidden, updated npc_update_rate times a second.
const FAR := 1


## The level for an NPC at [param distance] from the viewer.
static func level_for(distance: float, lod_distance: float) -> int:
	return FAR if lod_distance > 0.0 and distance > lod_distance else NEAR


## Frames between two updates of a far NPC: the frame rate over the wanted update rate.
static func far_interval_frames(frames_per_second: float, update_rate_hz: float) -> int:
	if update_rate_hz <= 0.0:
		return 1
	return maxi(1, roundi(maxf(1.0, frames_per_second) / update_rate_hz))


## True when the NPC at [param index] updates in frame [param frame]: near ones always, far ones
## once per interval, staggered by index.
static func is_due(level: int, frame: int, index: int, interval: int) -> bool:
	return level == NEAR or interval <= 1 or (frame + index) % interval == 0


## The slice [start, end) of NPC indices whose level is recomputed in this frame, so each NPC
## is checked every count / per_frame frames instead of all of them every frame.
static func refresh_slice(count: int, frame: int, per_frame: int) -> Vector2i:
	if count <= 0:
		return Vector2i.ZERO
	if per_frame <= 0 or per_frame >= count:
		return Vector2i(0, count)
	var slices := ceili(float(count) / float(per_frame))
	var start := (frame % slices) * per_frame
	return Vector2i(start, mini(count, start + per_frame))
