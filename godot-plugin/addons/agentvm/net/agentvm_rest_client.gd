@tool
class_name AgentVMRestClient
extends Node
## REST client: one HTTPRequest per call, JSON in and out, a timeout, and retries with randomised
## exponential backoff where AgentVMBackoff allows them (no answer, 429 with Retry-After, 503, and
## 5xx for idempotent methods; never 4xx). Every call is awaitable and returns an AgentVMResult.

## Base URL of the API, e.g. http://localhost:8000.
var endpoint: String = "http://localhost:8000"
## Sent as X-API-Key.
var api_key: String = ""
## Seconds to wait for one answer.
var timeout_s: float = 30.0
## Retries after the first attempt.
var max_retries: int = 3
## First retry waits about this long; each retry doubles it, up to backoff_max_s.
var backoff_base_s: float = 0.5
var backoff_max_s: float = 8.0

var _rng := RandomNumberGenerator.new()
var _in_flight: Array[HTTPRequest] = []


func _init() -> void:
	_rng.randomize()


## Sends a request built by AgentVMRequests ({method, path, body}) and waits for the answer,
## retrying where that is safe. Options: timeout_s, max_retries.
func send(request: Dictionary, options: Dictionary = {}) -> AgentVMResult:
	var method := AgentVMJson.string_of(request, "method", "GET")
	var path := AgentVMJson.string_of(request, "path", "/")
	var request_line := "%s %s" % [method, path]
	if AgentVMProtocol.normalize_endpoint(endpoint) == "":
		return _labelled(AgentVMResult.failure(AgentVMResult.INVALID_ARGUMENT, "no endpoint configured (agentvm/api/endpoint)"), request_line)
	if not is_inside_tree():
		return _labelled(AgentVMResult.failure(AgentVMResult.NOT_IN_TREE, "add the AgentVM node to the scene tree (add_child) and let it enter the tree before calling the API"), request_line)
	var body: Variant = request.get("body")
	var has_body := body != null
	var payload := JSON.stringify(body) if has_body else ""
	var url := AgentVMProtocol.join_url(endpoint, path)
	var call_timeout := float(options.get("timeout_s", timeout_s))
	var retries := int(options.get("max_retries", max_retries))
	var attempt := 0
	while true:
		attempt += 1
		var result: AgentVMResult = await _send_once(AgentVMRequests.http_method(method), url, AgentVMProtocol.rest_headers(api_key, has_body), payload, call_timeout)
		_labelled(result, request_line)
		if not AgentVMBackoff.should_retry(result, method, attempt, retries) or not is_inside_tree():
			return result
		await get_tree().create_timer(AgentVMBackoff.wait_before_retry_s(result, attempt, backoff_base_s, backoff_max_s, _rng.randf())).timeout
	return AgentVMResult.failure(AgentVMResult.NETWORK_ERROR, "unreachable")


## Cancels every request still waiting (their callers get a network_error result).
func cancel_all() -> void:
	for request: HTTPRequest in _in_flight.duplicate():
		if is_instance_valid(request):
			request.cancel_request()
			request.request_completed.emit(HTTPRequest.RESULT_CONNECTION_ERROR, 0, PackedStringArray(), PackedByteArray())


func _send_once(method: HTTPClient.Method, url: String, headers: PackedStringArray, payload: String, call_timeout: float) -> AgentVMResult:
	var request := HTTPRequest.new()
	request.timeout = call_timeout
	add_child(request, false, Node.INTERNAL_MODE_BACK)
	_in_flight.append(request)
	var error := request.request(url, headers, method, payload)
	if error != OK:
		_release(request)
		return AgentVMResult.failure(AgentVMResult.UNREACHABLE, "the request to %s could not start (error %d: %s)" % [url, error, error_string(error)])
	var response: Array = await request.request_completed
	_release(request)
	var transport: int = response[0]
	if transport != HTTPRequest.RESULT_SUCCESS:
		return AgentVMResult.from_transport(transport, url)
	var status: int = response[1]
	var response_headers: PackedStringArray = response[2]
	var raw: PackedByteArray = response[3]
	return AgentVMResult.from_http(status, raw.get_string_from_utf8(), response_headers)


func _release(request: HTTPRequest) -> void:
	_in_flight.erase(request)
	if is_instance_valid(request):
		request.queue_free()


static func _labelled(result: AgentVMResult, request_line: String) -> AgentVMResult:
	result.request_line = request_line
	return result
