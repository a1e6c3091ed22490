extends RefCounted
## URLs (the fixture's WebSocket URL examples), headers, API version compatibility and the
## connection diagnosis behind the dock's "Test connection".

const TestContext := preload("res://tests/test_context.gd")


func run(t: TestContext) -> void:
	_urls(t)
	_headers(t)
	_versions(t)
	_diagnosis(t)
	t.done()


func _urls(t: TestContext) -> void:
	t.equal("normalize_endpoint trims slashes and spaces", AgentVMProtocol.normalize_endpoint(" http://h:8000// "), "http://h:8000")
	t.equal("normalize_endpoint adds http://", AgentVMProtocol.normalize_endpoint("localhost:8000"), "http://localhost:8000")
	t.equal("join_url", AgentVMProtocol.join_url("http://h:8000/", "agents/create"), "http://h:8000/agents/create")
	t.equal("query_string skips empty values and encodes", AgentVMProtocol.query_string({"a": "x y", "b": "", "c": 3}), "?a=x%20y&c=3")
	t.equal("query_string of nothing is empty", AgentVMProtocol.query_string({"a": ""}), "")
	var websocket := AgentVMJson.dict_of(t.fixtures(), "websocket")
	t.equal("the fixture's WebSocket path is the protocol's", AgentVMJson.string_of(websocket, "path"), AgentVMProtocol.WS_PATH)
	var examples := AgentVMJson.objects_of(websocket, "url_examples")
	t.check("the fixture has WebSocket URL examples", examples.size() >= 3)
	for example: Dictionary in examples:
		var built := AgentVMProtocol.ws_url(
			AgentVMJson.string_of(example, "endpoint"),
			AgentVMJson.string_of(example, "game_id"),
			AgentVMJson.int_of(example, "since", -1),
			AgentVMJson.string_of(example, "api_key"),
			AgentVMJson.bool_of(example, "key_in_query"),
			AgentVMJson.string_of(example, "types"))
		t.equal("ws_url → %s" % AgentVMJson.string_of(example, "url"), built, AgentVMJson.string_of(example, "url"))


func _headers(t: TestContext) -> void:
	t.equal("REST headers with a body", AgentVMProtocol.rest_headers("k", true), PackedStringArray(["Accept: application/json", "X-API-Key: k", "Content-Type: application/json"]))
	t.equal("REST headers without a key or body", AgentVMProtocol.rest_headers("", false), PackedStringArray(["Accept: application/json"]))
	var handshake := AgentVMJson.dict_of(AgentVMJson.dict_of(t.fixtures(), "websocket"), "handshake_headers")
	t.equal("the handshake sends the fixture's headers", AgentVMProtocol.ws_headers("{api_key}"), _header_lines(handshake))


func _versions(t: TestContext) -> void:
	t.check("0.1.0 speaks 0.1", AgentVMProtocol.is_compatible_version("0.1.0"))
	t.check("0.1.7 speaks 0.1", AgentVMProtocol.is_compatible_version("0.1.7"))
	t.check("0.2.0 does not (minor is breaking before 1.0)", not AgentVMProtocol.is_compatible_version("0.2.0"))
	t.check("1.4.0 speaks 1.0", AgentVMProtocol.is_compatible_version("1.4.0", "1.0"))
	t.check("2.0.0 does not speak 1.0", not AgentVMProtocol.is_compatible_version("2.0.0", "1.0"))
	t.check("garbage is not compatible", not AgentVMProtocol.is_compatible_version("dev"))


func _diagnosis(t: TestContext) -> void:
	var endpoint := "http://localhost:8000"
	var healthy := AgentVMResult.from_http(200, '{"status": "healthy", "version": "0.1.0", "uptime_s": 3}')
	var me := AgentVMResult.from_http(200, '{"key_id": "k", "name": "development", "scopes": ["admin"], "game_id": null}')
	var ok := AgentVMProtocol.diagnose(endpoint, healthy, me)
	t.check("a healthy API and an accepted key pass", ok.is_ok(), str(ok))
	t.equal("the diagnosis reports version and key", [ok.data_dict().get("version"), ok.data_dict().get("key_name")], ["0.1.0", "development"])
	var down := AgentVMResult.from_transport(HTTPRequest.RESULT_CANT_CONNECT, endpoint)
	t.equal("no answer: unreachable", AgentVMProtocol.diagnose(endpoint, down, null).code, AgentVMResult.UNREACHABLE)
	var html := AgentVMResult.from_http(404, "<html>not found</html>")
	t.equal("404 on /health: wrong_server", AgentVMProtocol.diagnose(endpoint, html, null).code, "wrong_server")
	var original_vm := AgentVMResult.from_http(200, '{"status": "healthy"}')
	var vm := AgentVMProtocol.diagnose(endpoint, original_vm, null)
	t.check("the original AgentVM VM is recognised", vm.code == "wrong_server" and vm.message.contains("original AgentVM"), vm.message)
	var future := AgentVMResult.from_http(200, '{"status": "healthy", "version": "3.0.0"}')
	t.equal("another API version: incompatible_version", AgentVMProtocol.diagnose(endpoint, future, me).code, "incompatible_version")
	var refused := AgentVMResult.from_http(401, '{"error": {"code": "unauthorized", "message": "missing or invalid API key"}, "request_id": "r"}')
	var bad_key := AgentVMProtocol.diagnose(endpoint, healthy, refused)
	t.check("a refused key: unauthorized, naming the setting", bad_key.code == "unauthorized" and bad_key.message.contains("AGENTVM_API_KEY"), bad_key.message)
	var forbidden := AgentVMResult.from_http(403, '{"error": {"code": "forbidden", "message": "read scope"}, "request_id": "r"}')
	t.equal("a key without the scope: forbidden", AgentVMProtocol.diagnose(endpoint, healthy, forbidden).code, "forbidden")
	t.equal("no endpoint: invalid_argument", AgentVMProtocol.diagnose("", healthy, me).code, AgentVMResult.INVALID_ARGUMENT)


static func _header_lines(headers: Dictionary) -> PackedStringArray:
	var lines: PackedStringArray = []
	for header_name: String in headers:
		lines.append("%s: %s" % [header_name, headers[header_name]])
	return lines
