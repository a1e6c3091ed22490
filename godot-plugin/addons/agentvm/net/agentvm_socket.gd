@tool
class_name AgentVMSocket
extends Node
## The live event stream: a WebSocketPeer polled in _process, turned into signals. Authenticates
## with the X-API-Key handshake header (with ?api_key= on the Web export, where browsers cannot
## send handshake headers), pings when idle, reconnects with randomised backoff and resumes with
## since=<last seq>, so no durable event is missed or delivered twice (AgentVMEventStream).

## The socket opened; [param hello] is the server's first frame.
signal opened(hello: Dictionary)
## The socket closed; [param will_retry] tells whether it reconnects by itself.
signal closed(code: int, reason: String, will_retry: bool)
## An event envelope {seq, type, ts, game_id, data} arrived (durable ones once each).
signal event_received(event: Dictionary)
## The server could not replay everything missed: refetch state (agents, open tasks).
signal replay_gap(message: String)
## The server sent an error frame other than replay_gap.
signal error_received(code: String, message: String)

enum State { IDLE, CONNECTING, OPEN, WAITING_TO_RETRY }

## A policy close (bad key or scope): reconnecting would fail the same way.
const CLOSE_POLICY := 1008
## The server closed a client too slow to keep up: resume at once with since.
const CLOSE_TOO_SLOW := 4008
## Seconds a connection attempt may take before it is abandoned and retried.
const CONNECT_TIMEOUT_S := 10.0

var endpoint: String = "http://localhost:8000"
var api_key: String = ""
## Only this game's events ("" for every game the key may see).
var game_id: String = ""
## Type filter, e.g. "agent.*,task.*" ("" for all).
var types: String = ""
## Reconnect backoff: about base_s after the first failure, doubling up to max_s.
var reconnect_base_s: float = 0.5
var reconnect_max_s: float = 30.0
## The protocol state (last seq, heartbeat); survives reconnects.
var stream := AgentVMEventStream.new()

var _peer: WebSocketPeer = null
var _state: State = State.IDLE
var _wanted: bool = false
var _attempt: int = 0
var _retry_at_ms: int = 0
var _connect_started_ms: int = 0
var _last_received_ms: int = 0
var _last_ping_ms: int = 0
var _ping_id: int = 0
var _url_game: String = ""  # the game and types the current connection's URL asked for
var _url_types: String = ""
var _rng := RandomNumberGenerator.new()


func _init() -> void:
	_rng.randomize()


## Opens the stream and keeps it open (reconnecting) until close_socket().
func open_socket() -> void:
	_wanted = true
	_attempt = 0
	if _state == State.IDLE or _state == State.WAITING_TO_RETRY:
		_connect_now()


## Closes the stream and stops reconnecting.
func close_socket(code: int = 1000, reason: String = "client closing") -> void:
	_wanted = false
	if _peer != null and _state != State.IDLE:
		_peer.close(code, reason)
	if _state == State.WAITING_TO_RETRY or _state == State.CONNECTING:
		_finish_close(code, reason)


## True while the stream is open.
func is_open() -> bool:
	return _state == State.OPEN


## True while the stream is wanted open (connected, or connecting, or waiting to retry).
func is_wanted() -> bool:
	return _wanted


## Switches the stream to another game without reconnecting (and remembers it for reconnects).
func subscribe(new_game_id: String, new_types: String = "") -> void:
	game_id = new_game_id
	types = new_types
	if is_open():
		send_text(AgentVMEventStream.subscribe_frame(game_id, types))


## Sends a text frame; false when the stream is not open.
func send_text(text: String) -> bool:
	if not is_open():
		return false
	return _peer.send_text(text) == OK


## Handles one received text frame (public for tests: feed fixture frames without a server).
func handle_text(text: String) -> void:
	_last_received_ms = Time.get_ticks_msec()
	var received := stream.receive(text)
	var frame: Dictionary = received["frame"]
	var kind: String = received["kind"]
	if kind == AgentVMEventStream.KIND_EVENT:
		event_received.emit(frame)
	elif kind == AgentVMEventStream.KIND_REPLAY_GAP:
		replay_gap.emit(AgentVMJson.string_of(frame, "message"))
	elif kind == AgentVMEventStream.KIND_ERROR:
		error_received.emit(AgentVMJson.string_of(frame, "code"), AgentVMJson.string_of(frame, "message"))


func _process(_delta: float) -> void:
	var now := Time.get_ticks_msec()
	if _state == State.WAITING_TO_RETRY:
		if _wanted and now >= _retry_at_ms:
			_connect_now()
		return
	if _peer == null or _state == State.IDLE:
		return
	_peer.poll()
	var ready_state := _peer.get_ready_state()
	if ready_state == WebSocketPeer.STATE_OPEN:
		if _state == State.CONNECTING:
			_state = State.OPEN
			_attempt = 0
			_last_received_ms = now
			_last_ping_ms = now
		while _peer.get_available_packet_count() > 0:
			var packet := _peer.get_packet()
			var was_hello := stream.connection_id
			handle_text(packet.get_string_from_utf8())
			if was_hello != stream.connection_id:
				if game_id != _url_game or types != _url_types:
					# subscribe() was called while this connection was being made.
					send_text(AgentVMEventStream.subscribe_frame(game_id, types))
				opened.emit({"connection_id": stream.connection_id, "last_seq": stream.last_seq, "heartbeat_s": stream.heartbeat_s})
			if _peer == null or _state != State.OPEN:
				return
		if stream.is_stale(now, _last_received_ms):
			_peer.close(4000, "no traffic: reconnecting")
		elif stream.should_ping(now, _last_received_ms, _last_ping_ms):
			_ping_id += 1
			_last_ping_ms = now
			_peer.send_text(AgentVMEventStream.ping_frame(_ping_id))
	elif ready_state == WebSocketPeer.STATE_CLOSED:
		_finish_close(_peer.get_close_code(), _peer.get_close_reason())
	elif _state == State.CONNECTING and now - _connect_started_ms > int(CONNECT_TIMEOUT_S * 1000.0):
		_peer.close(4000, "connect timeout")
		_finish_close(-1, "no answer in %d s" % int(CONNECT_TIMEOUT_S))


func _connect_now() -> void:
	var in_browser := AgentVMProtocol.key_in_query()
	_peer = WebSocketPeer.new()
	# A replay after a long outage can be large: room for many frames between two polls.
	_peer.inbound_buffer_size = 1 << 20
	_peer.max_queued_packets = 16384
	if not in_browser:
		_peer.handshake_headers = AgentVMProtocol.ws_headers(api_key)
	var url := AgentVMProtocol.ws_url(endpoint, game_id, stream.since(), api_key, in_browser, types)
	_url_game = game_id
	_url_types = types
	stream.connection_id = ""
	_state = State.CONNECTING
	_connect_started_ms = Time.get_ticks_msec()
	var error := _peer.connect_to_url(url)
	if error != OK:
		_finish_close(-1, "cannot open %s (error %d)" % [AgentVMProtocol.ws_url(endpoint, game_id, -1, "", false), error])


func _finish_close(code: int, reason: String) -> void:
	var was_open := _state == State.OPEN
	_peer = null
	var will_retry := _wanted and code != CLOSE_POLICY
	if will_retry:
		_attempt += 1
		var delay_s := 0.0 if code == CLOSE_TOO_SLOW and was_open else AgentVMBackoff.delay_s(_attempt, reconnect_base_s, reconnect_max_s, _rng.randf())
		_retry_at_ms = Time.get_ticks_msec() + int(delay_s * 1000.0)
		_state = State.WAITING_TO_RETRY
	else:
		_wanted = false
		_state = State.IDLE
	closed.emit(code, reason, will_retry)
