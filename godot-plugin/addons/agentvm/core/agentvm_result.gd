@tool
class_name AgentVMResult
extends RefCounted
## The outcome of one API call: the answer's data on success, or an error with the API's code
## and message. Check [method is_error] instead of testing for null. Errors carry the contract's
## shape: [code]{"error": {"code", "message", "details"}, "request_id"}[/code].

## No answer: the server could not be reached (refused, unresolvable host, TLS failure). The
## request never arrived, so retrying is safe for every method.
const UNREACHABLE := "unreachable"
## No answer in time. The server may have acted on the request.
const TIMEOUT := "timeout"
## The connection broke while waiting for the answer. The server may have acted on it.
const NETWORK_ERROR := "network_error"
## A 2xx answer whose body is not the JSON the contract promises.
const BAD_RESPONSE := "bad_response"
## The call was refused by the plugin before sending (a missing id, no endpoint, …).
const INVALID_ARGUMENT := "invalid_argument"
## The node making the call is not in the scene tree, so it cannot send requests yet.
const NOT_IN_TREE := "not_in_tree"

## HTTP status of the answer; 0 when no answer arrived.
var status: int = 0
## The parsed body of a successful answer.
var data: Variant = null
## Error code: the API's ("validation_failed", "not_found", …) or one of the constants above.
## Empty on success.
var code: String = ""
## Human-readable error message (the API's message when it sent one).
var message: String = ""
## The API's error details, e.g. [code][{"field": "agent_type", "message": "…"}][/code].
var details: Array = []
## The request id the API assigned (quote it when reporting a problem).
var request_id: String = ""
## Seconds the server asked to wait (Retry-After), 0 when it did not say.
var retry_after_s: float = 0.0
## What was asked, for messages: e.g. "POST /agents/create".
var request_line: String = ""


## True when the call failed: no answer, or an answer outside 2xx.
func is_error() -> bool:
	return code != ""


## True when the call succeeded.
func is_ok() -> bool:
	return code == ""


## The field the API named as wrong (the first of [member details]), or "".
func field() -> String:
	for detail: Variant in details:
		if detail is Dictionary:
			return AgentVMJson.string_of(detail, "field")
	return ""


## The data as a Dictionary ({} when it is not one).
func data_dict() -> Dictionary:
	if data is Dictionary:
		return data
	return {}


func _to_string() -> String:
	if is_ok():
		return "AgentVMResult(ok %d)" % status
	return "AgentVMResult(%s %s%s)" % [code, message, (" [%s]" % request_line) if request_line != "" else ""]


## A success carrying data.
static func success(http_status: int, payload: Variant) -> AgentVMResult:
	var result := AgentVMResult.new()
	result.status = http_status
	result.data = payload
	return result


## A failure with a code and message (no answer from the API, or refused by the plugin).
static func failure(error_code: String, error_message: String, http_status: int = 0) -> AgentVMResult:
	var result := AgentVMResult.new()
	result.status = http_status
	result.code = error_code
	result.message = error_message
	return result


## Builds the result of an HTTP answer: its status, body text and response headers.
static func from_http(http_status: int, body: String, headers: PackedStringArray = PackedStringArray()) -> AgentVMResult:
	var parsed: Variant = AgentVMJson.parse(body)
	var result := AgentVMResult.new()
	result.status = http_status
	result.request_id = header_value(headers, "x-request-id")
	result.retry_after_s = parse_retry_after(header_value(headers, "retry-after"))
	if http_status >= 200 and http_status < 300:
		if parsed == null and body.strip_edges() != "":
			result.code = BAD_RESPONSE
			result.message = "HTTP %d with a body that is not JSON: %s" % [http_status, body.left(120)]
		result.data = parsed
		return result
	result.code = "http_%d" % http_status
	result.message = "HTTP %d" % http_status
	if parsed is Dictionary:
		var payload: Dictionary = parsed
		var error: Dictionary = AgentVMJson.dict_of(payload, "error")
		if not error.is_empty():
			result.code = AgentVMJson.string_of(error, "code", result.code)
			result.message = AgentVMJson.string_of(error, "message", result.message)
			result.details = AgentVMJson.array_of(error, "details")
		if result.request_id == "":
			result.request_id = AgentVMJson.string_of(payload, "request_id")
	return result


## Builds the result of a request that got no answer, from HTTPRequest's result code.
static func from_transport(transport_result: int, url: String) -> AgentVMResult:
	if transport_result == HTTPRequest.RESULT_CANT_CONNECT or transport_result == HTTPRequest.RESULT_CANT_RESOLVE \
			or transport_result == HTTPRequest.RESULT_TLS_HANDSHAKE_ERROR:
		return failure(UNREACHABLE, "cannot reach %s (connection refused, unknown host or TLS failure; HTTPRequest result %d)" % [url, transport_result])
	if transport_result == HTTPRequest.RESULT_TIMEOUT:
		return failure(TIMEOUT, "no answer from %s in time" % url)
	return failure(NETWORK_ERROR, "the connection to %s failed (HTTPRequest result %d)" % [url, transport_result])


## The value of a response header (case-insensitive name), or "".
static func header_value(headers: PackedStringArray, header_name: String) -> String:
	var wanted := header_name.to_lower() + ":"
	for header: String in headers:
		if header.to_lower().begins_with(wanted):
			return header.substr(wanted.length()).strip_edges()
	return ""


## Seconds from a Retry-After header (the delay-seconds form; an HTTP date counts as 0).
static func parse_retry_after(value: String) -> float:
	var text := value.strip_edges()
	if text.is_valid_int() or text.is_valid_float():
		return maxf(0.0, text.to_float())
	return 0.0
