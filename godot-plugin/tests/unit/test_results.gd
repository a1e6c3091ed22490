extends RefCounted
## AgentVMJson (typed reads of parsed JSON) and AgentVMResult (the contract's error shape),
## with the answers of the fixture's error_examples.

const TestContext := preload("res://tests/test_context.gd")


func run(t: TestContext) -> void:
	_json(t)
	_results_from_fixture(t)
	_transport(t)
	t.done()


func _json(t: TestContext) -> void:
	var data := AgentVMJson.parse_object('{"s": "x", "n": 2, "f": 0.5, "b": true, "nil": null, "o": {"x": 1, "y": 2, "z": 3}, "a": [1, {"k": 1}, "x"]}')
	t.equal("string_of reads a string", AgentVMJson.string_of(data, "s"), "x")
	t.equal("string_of falls back for null", AgentVMJson.string_of(data, "nil", "fallback"), "fallback")
	t.equal("string_of falls back for a number", AgentVMJson.string_of(data, "n", "fallback"), "fallback")
	t.equal("number_of reads JSON numbers as float", AgentVMJson.number_of(data, "n"), 2.0)
	t.equal("int_of reads JSON numbers as int", AgentVMJson.int_of(data, "n"), 2)
	t.equal("int_of falls back for a string", AgentVMJson.int_of(data, "s", -1), -1)
	t.equal("bool_of", AgentVMJson.bool_of(data, "b"), true)
	t.equal("dict_of an absent key is {}", AgentVMJson.dict_of(data, "missing"), {})
	t.equal("objects_of skips what is not an object", AgentVMJson.objects_of(data, "a").size(), 1)
	t.check("vector3_of reads {x, y, z}", AgentVMJson.vector3_of(data, "o") == Vector3(1.0, 2.0, 3.0))
	t.equal("position_object", AgentVMJson.position_object(Vector3(1.0, 2.0, 3.0)), {"x": 1, "y": 2, "z": 3})
	t.check("parse of garbage is null", AgentVMJson.parse("not json {") == null)
	t.equal("parse_object of an array is {}", AgentVMJson.parse_object("[1, 2]"), {})
	t.check("same: 1 and 1.0 are the same JSON", AgentVMJson.same({"a": [1, 2]}, {"a": [1.0, 2.0]}))
	t.check("same: key order does not matter", AgentVMJson.same({"a": 1, "b": 2}, {"b": 2, "a": 1}))
	t.check("same: different values differ", not AgentVMJson.same({"a": 1}, {"a": 2}))


func _results_from_fixture(t: TestContext) -> void:
	var examples := AgentVMJson.objects_of(t.fixtures(), "error_examples")
	t.check("the fixture has error examples", examples.size() >= 5)
	for example: Dictionary in examples:
		var example_name := AgentVMJson.string_of(example, "name")
		var body := AgentVMJson.string_of(example, "body_text", JSON.stringify(example.get("body")))
		var headers := PackedStringArray(AgentVMJson.array_of(example, "headers"))
		var result := AgentVMResult.from_http(AgentVMJson.int_of(example, "status"), body, headers)
		var expected := AgentVMJson.dict_of(example, "result")
		t.equal("%s: is_error()" % example_name, result.is_error(), AgentVMJson.bool_of(expected, "is_error"))
		t.equal("%s: code" % example_name, result.code, AgentVMJson.string_of(expected, "code"))
		t.equal("%s: message" % example_name, result.message, AgentVMJson.string_of(expected, "message"))
		t.equal("%s: field" % example_name, result.field(), AgentVMJson.string_of(expected, "field"))
		t.equal("%s: request_id" % example_name, result.request_id, AgentVMJson.string_of(expected, "request_id"))
		t.equal("%s: retry_after_s" % example_name, result.retry_after_s, AgentVMJson.number_of(expected, "retry_after_s"))
		t.equal("%s: status" % example_name, result.status, AgentVMJson.int_of(example, "status"))
	var ok := AgentVMResult.from_http(201, '{"id": "a"}')
	t.check("a 2xx carries its data", ok.is_ok() and ok.data_dict().get("id") == "a")
	var broken := AgentVMResult.from_http(200, "<html>")
	t.equal("a 2xx that is not JSON is bad_response", broken.code, AgentVMResult.BAD_RESPONSE)
	t.check("an error result prints its code and request", str(AgentVMResult.failure("conflict", "already finished")).contains("conflict"))


func _transport(t: TestContext) -> void:
	t.equal("refused connection → unreachable", AgentVMResult.from_transport(HTTPRequest.RESULT_CANT_CONNECT, "http://x").code, AgentVMResult.UNREACHABLE)
	t.equal("unknown host → unreachable", AgentVMResult.from_transport(HTTPRequest.RESULT_CANT_RESOLVE, "http://x").code, AgentVMResult.UNREACHABLE)
	t.equal("TLS failure → unreachable", AgentVMResult.from_transport(HTTPRequest.RESULT_TLS_HANDSHAKE_ERROR, "http://x").code, AgentVMResult.UNREACHABLE)
	t.equal("timeout → timeout", AgentVMResult.from_transport(HTTPRequest.RESULT_TIMEOUT, "http://x").code, AgentVMResult.TIMEOUT)
	t.equal("broken connection → network_error", AgentVMResult.from_transport(HTTPRequest.RESULT_CONNECTION_ERROR, "http://x").code, AgentVMResult.NETWORK_ERROR)
	t.equal("header_value is case-insensitive", AgentVMResult.header_value(PackedStringArray(["retry-after: 7"]), "Retry-After"), "7")
	t.equal("Retry-After as an HTTP date counts as 0", AgentVMResult.parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), 0.0)
