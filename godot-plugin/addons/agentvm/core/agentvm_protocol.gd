@tool
class_name AgentVMProtocol
extends RefCounted
## The wire rules the plugin follows: URLs, headers, the API version it speaks, and what a failed
## connection test means. Pure functions, tested headless.

## The API version this plugin speaks: servers with the same major (and, before 1.0, the same
## minor) version are compatible.
const API_VERSION := "0.1"
## The WebSocket path of the event stream.
const WS_PATH := "/ws"


## The endpoint without spaces or trailing slashes, with http:// when no scheme was given.
static func normalize_endpoint(endpoint: String) -> String:
	var base := endpoint.strip_edges()
	while base.ends_with("/"):
		base = base.left(base.length() - 1)
	if base != "" and not base.contains("://"):
		base = "http://" + base
	return base


## Joins the endpoint and an API path ("/agents/create") into a URL.
static func join_url(endpoint: String, path: String) -> String:
	var clean_path := path if path.begins_with("/") else "/" + path
	return normalize_endpoint(endpoint) + clean_path


## A query string from ordered name → value pairs; empty values are left out.
static func query_string(params: Dictionary) -> String:
	var parts: PackedStringArray = []
	for key: Variant in params:
		var value := str(params[key])
		if value == "":
			continue
		parts.append("%s=%s" % [str(key).uri_encode(), value.uri_encode()])
	return ("?" + "&".join(parts)) if parts.size() > 0 else ""


## The event stream's URL: ws(s)://host/ws?game_id=…&since=…[&types=…][&api_key=…].
## [param since] below 0 means "from now on". The key goes in the query only where the
## handshake cannot carry headers (a browser: the Web export), see [method key_in_query].
static func ws_url(endpoint: String, game_id: String, since: int, api_key: String, key_in_query: bool, types: String = "") -> String:
	var url := join_url(endpoint, WS_PATH)
	if url.begins_with("https://"):
		url = "wss://" + url.substr(8)
	elif url.begins_with("http://"):
		url = "ws://" + url.substr(7)
	var params := {"game_id": game_id, "since": str(since) if since >= 0 else "", "types": types}
	if key_in_query:
		params["api_key"] = api_key
	return url + query_string(params)


## True where WebSocket handshake headers cannot be set: in a browser (the Web export).
static func key_in_query() -> bool:
	return OS.has_feature("web")


## REST request headers: the key as X-API-Key (the original AgentVM API's header, accepted by
## every route), JSON in and out.
static func rest_headers(api_key: String, has_body: bool) -> PackedStringArray:
	var headers: PackedStringArray = ["Accept: application/json"]
	if api_key != "":
		headers.append("X-API-Key: " + api_key)
	if has_body:
		headers.append("Content-Type: application/json")
	return headers


## WebSocket handshake headers (not used in a browser, which cannot send them).
static func ws_headers(api_key: String) -> PackedStringArray:
	var headers: PackedStringArray = []
	if api_key != "":
		headers.append("X-API-Key: " + api_key)
	return headers


## True when a server version ("0.1.3") speaks this plugin's API version.
static func is_compatible_version(server_version: String, plugin_version: String = API_VERSION) -> bool:
	var server := server_version.split(".")
	var ours := plugin_version.split(".")
	if server.size() < 2 or not server[0].is_valid_int() or not server[1].is_valid_int():
		return false
	if server[0].to_int() != ours[0].to_int():
		return false
	return server[0].to_int() > 0 or server[1].to_int() == ours[1].to_int()


## What a connection test found, from the answers to GET /health and GET /auth/whoami (whoami is
## null when /health already failed). On success the data holds {endpoint, version, key_name,
## scopes, game_id}; on failure the code says what is wrong: unreachable, timeout,
## wrong_server, incompatible_version, unauthorized, forbidden, …
static func diagnose(endpoint: String, health: AgentVMResult, whoami: AgentVMResult) -> AgentVMResult:
	if endpoint == "":
		return AgentVMResult.failure(AgentVMResult.INVALID_ARGUMENT, "no endpoint: set agentvm/api/endpoint (e.g. http://localhost:8000)")
	if health.code == AgentVMResult.UNREACHABLE or health.code == AgentVMResult.TIMEOUT or health.code == AgentVMResult.NETWORK_ERROR:
		return AgentVMResult.failure(AgentVMResult.UNREACHABLE, "cannot reach the AgentVM API at %s: is it running (npm start) and is agentvm/api/endpoint right? (%s)" % [endpoint, health.message])
	if health.is_error():
		return AgentVMResult.failure("wrong_server", "%s answered GET /health with HTTP %d: not an AgentVM API, check agentvm/api/endpoint" % [endpoint, health.status], health.status)
	var body := health.data_dict()
	var version := AgentVMJson.string_of(body, "version")
	if version == "":
		if AgentVMJson.string_of(body, "status") == "healthy":
			return AgentVMResult.failure("wrong_server", "%s is an original AgentVM VM (it serves only /agent/run); point agentvm/api/endpoint at the AgentVM server" % endpoint)
		return AgentVMResult.failure("wrong_server", "%s/health did not answer like the AgentVM API" % endpoint)
	if not is_compatible_version(version):
		return AgentVMResult.failure("incompatible_version", "the API at %s is version %s; this plugin speaks %s.x: update the plugin or the server" % [endpoint, version, API_VERSION])
	if whoami == null:
		return AgentVMResult.failure(AgentVMResult.INVALID_ARGUMENT, "the API key was not checked")
	if whoami.status == 401:
		return AgentVMResult.failure("unauthorized", "the API key was refused (401): set agentvm/api/api_key or the AGENTVM_API_KEY environment variable (%s)" % whoami.message, 401)
	if whoami.status == 403:
		return AgentVMResult.failure("forbidden", "the API key may not do this (403): %s" % whoami.message, 403)
	if whoami.is_error():
		return whoami
	var key := whoami.data_dict()
	return AgentVMResult.success(200, {
		"endpoint": endpoint,
		"version": version,
		"key_name": AgentVMJson.string_of(key, "name"),
		"scopes": AgentVMJson.array_of(key, "scopes"),
		"game_id": AgentVMJson.string_of(key, "game_id"),
	})
