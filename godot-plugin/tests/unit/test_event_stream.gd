extends RefCounted
## The event stream's protocol state, with the fixture's frames and sequences: frame kinds,
## duplicates dropped by seq, the seq to resume from, replay_gap, heartbeats.

const TestContext := preload("res://tests/test_context.gd")


func run(t: TestContext) -> void:
	_sequences(t)
	_parsing(t)
	_heartbeat(t)
	t.done()


func _sequences(t: TestContext) -> void:
	var sequences := AgentVMJson.objects_of(AgentVMJson.dict_of(t.fixtures(), "websocket"), "sequences")
	t.check("the fixture has frame sequences", sequences.size() >= 3)
	for sequence: Dictionary in sequences:
		var sequence_name := AgentVMJson.string_of(sequence, "name")
		var stream := AgentVMEventStream.new()
		stream.last_seq = AgentVMJson.int_of(sequence, "initial_last_seq", -1)
		for step: Dictionary in AgentVMJson.objects_of(sequence, "steps"):
			var frame_name := AgentVMJson.string_of(step, "frame")
			var received := stream.receive(t.frame_text(frame_name))
			t.equal("%s / %s: kind" % [sequence_name, frame_name], received["kind"], AgentVMJson.string_of(step, "kind"))
			t.equal("%s / %s: last_seq" % [sequence_name, frame_name], stream.last_seq, AgentVMJson.int_of(step, "last_seq"))
	var stream := AgentVMEventStream.new()
	stream.receive(t.frame_text("hello"))
	t.equal("without since, a connection resumes from hello's last_seq", stream.since(), AgentVMJson.int_of(t.frame("hello"), "last_seq"))
	t.equal("hello sets the heartbeat", stream.heartbeat_s, 30.0)
	stream.last_seq = 46
	stream.receive(t.frame_text("hello"))
	t.equal("a resumed connection keeps its own last_seq over hello's", stream.since(), 46)
	stream.reset()
	t.equal("reset forgets the position", stream.since(), -1)


func _parsing(t: TestContext) -> void:
	for text: String in ["", "not json", "[1, 2]", "{}", '{"type": 3}', '{"seq": 1}']:
		t.equal("invalid frame %s" % text, AgentVMEventStream.new().receive(text)["kind"], AgentVMEventStream.KIND_INVALID)
	t.equal("frame_seq of a volatile event is -1", AgentVMEventStream.frame_seq(t.frame("agent_moved")), -1)
	t.equal("frame_seq of a durable event", AgentVMEventStream.frame_seq(t.frame("task_completed")), 46)


func _heartbeat(t: TestContext) -> void:
	var stream := AgentVMEventStream.new()
	stream.heartbeat_s = 30.0
	t.check("no ping while traffic flows", not stream.should_ping(10_000, 5_000, 0))
	t.check("ping after half a heartbeat of silence", stream.should_ping(20_000, 5_000, 0))
	t.check("no second ping right after one", not stream.should_ping(21_000, 5_000, 20_000))
	t.check("not stale after two heartbeats", not stream.is_stale(65_000, 5_000))
	t.check("stale after two and a half heartbeats", stream.is_stale(81_000, 5_000))
