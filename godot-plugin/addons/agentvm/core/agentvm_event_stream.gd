@tool
class_name AgentVMEventStream
extends RefCounted
## The protocol state of the event stream, without the socket: classifies server frames, drops
## durable events already seen (a replay after reconnecting may repeat some), and remembers the
## last durable seq so a reconnect resumes with since=<last seq>. Tested headless with the
## frames of tests/fixtures/contract.json.

## A new event envelope {seq, type, ts, game_id, data}: deliver it.
const KIND_EVENT := "event"
## A durable event at or below the last seq seen: already delivered, drop it.
const KIND_DUPLICATE := "duplicate"
## The first frame of a connection: {type: "hello", last_seq, heartbeat_s, …}.
const KIND_HELLO := "hello"
## The answer to a ping.
const KIND_PONG := "pong"
## The answer to a subscribe.
const KIND_SUBSCRIBED := "subscribed"
## The server cannot replay what was missed: the client must refetch its state.
const KIND_REPLAY_GAP := "replay_gap"
## Any other error frame {type: "error", code, message}.
const KIND_ERROR := "error"
## Not a JSON object with a type.
const KIND_INVALID := "invalid"

## Last durable seq delivered; -1 before the first.
var last_seq: int = -1
## Seconds between the server's pings (from hello); the client pings when idle for half of it.
var heartbeat_s: float = 30.0
## The server's id of the current connection (from hello).
var connection_id: String = ""


## The seq to resume from after a reconnect (-1: none, start live).
func since() -> int:
	return last_seq


## Forgets the position in the log (e.g. after switching to another server).
func reset() -> void:
	last_seq = -1
	connection_id = ""


## Classifies one text frame and updates the state: returns {"kind": KIND_*, "frame": Dictionary}.
func receive(text: String) -> Dictionary:
	var frame := parse_frame(text)
	if frame.is_empty():
		return {"kind": KIND_INVALID, "frame": frame}
	var frame_type := AgentVMJson.string_of(frame, "type")
	if frame_type == "hello":
		connection_id = AgentVMJson.string_of(frame, "connection_id")
		heartbeat_s = maxf(1.0, AgentVMJson.number_of(frame, "heartbeat_s", heartbeat_s))
		# Without since the stream starts live at the server's last seq: resume from there later.
		if last_seq < 0:
			last_seq = AgentVMJson.int_of(frame, "last_seq", -1)
		return {"kind": KIND_HELLO, "frame": frame}
	if frame_type == "pong":
		return {"kind": KIND_PONG, "frame": frame}
	if frame_type == "subscribed":
		return {"kind": KIND_SUBSCRIBED, "frame": frame}
	if frame_type == "error":
		if AgentVMJson.string_of(frame, "code") == "replay_gap":
			# The server continues live from its last seq (the log was trimmed, or reset and is
			# now behind us): continue from there, or every new event would look like a duplicate.
			last_seq = AgentVMJson.int_of(frame, "last_seq", last_seq)
			return {"kind": KIND_REPLAY_GAP, "frame": frame}
		return {"kind": KIND_ERROR, "frame": frame}
	var seq := frame_seq(frame)
	if seq >= 0:
		if seq <= last_seq:
			return {"kind": KIND_DUPLICATE, "frame": frame}
		last_seq = seq
	return {"kind": KIND_EVENT, "frame": frame}


## Parses a server frame: a JSON object with a string "type", or {} for anything else.
static func parse_frame(text: String) -> Dictionary:
	var frame := AgentVMJson.parse_object(text)
	if AgentVMJson.string_of(frame, "type") == "":
		return {}
	return frame


## The durable seq of an envelope; -1 for volatile events (seq null) and control frames.
static func frame_seq(frame: Dictionary) -> int:
	return AgentVMJson.int_of(frame, "seq", -1)


## The ping frame the client sends: {"op": "ping", "id": id}.
static func ping_frame(id: int) -> String:
	return JSON.stringify({"op": "ping", "id": id})


## The subscribe frame: switches the connection to a game and/or type filter.
static func subscribe_frame(game_id: String, types: String = "") -> String:
	var frame := {"op": "subscribe", "game_id": game_id}
	if types != "":
		frame["types"] = types
	return JSON.stringify(frame)


## True when the connection has been quiet for half the heartbeat and no ping is outstanding
## since then: time to ping, so a dead connection is noticed.
func should_ping(now_ms: int, last_received_ms: int, last_ping_ms: int) -> bool:
	var half_ms := int(heartbeat_s * 500.0)
	return now_ms - last_received_ms >= half_ms and now_ms - last_ping_ms >= half_ms


## True when nothing arrived for two and a half heartbeats: the connection is dead even if the
## socket still looks open (a half-open TCP connection after a network change).
func is_stale(now_ms: int, last_received_ms: int) -> bool:
	return now_ms - last_received_ms > int(heartbeat_s * 2500.0)
