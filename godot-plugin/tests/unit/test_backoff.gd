extends RefCounted
## Randomised exponential backoff and the retry rules (no retry on 4xx, none of a POST whose
## answer was lost, Retry-After honoured).

const TestContext := preload("res://tests/test_context.gd")


func run(t: TestContext) -> void:
	t.equal("attempt 1 waits between base/2 …", AgentVMBackoff.delay_s(1, 0.5, 8.0, 0.0), 0.25)
	t.equal("… and base", AgentVMBackoff.delay_s(1, 0.5, 8.0, 1.0), 0.5)
	t.equal("attempt 3 doubles twice", AgentVMBackoff.delay_s(3, 0.5, 8.0, 1.0), 2.0)
	t.equal("the delay is capped", AgentVMBackoff.delay_s(12, 0.5, 8.0, 1.0), 8.0)
	t.equal("jitter outside 0–1 is clamped", AgentVMBackoff.delay_s(1, 1.0, 8.0, 5.0), 1.0)
	var waits: Array[float] = []
	for attempt: int in range(1, 6):
		waits.append(AgentVMBackoff.delay_s(attempt, 0.5, 8.0, 0.5))
	var growing := true
	for index: int in range(1, waits.size()):
		growing = growing and waits[index] > waits[index - 1]
	t.check("delays grow with the attempt", growing, str(waits))

	var unreachable := AgentVMResult.from_transport(HTTPRequest.RESULT_CANT_CONNECT, "http://x")
	var timeout := AgentVMResult.from_transport(HTTPRequest.RESULT_TIMEOUT, "http://x")
	var server_error := AgentVMResult.from_http(500, "")
	var bad_gateway := AgentVMResult.from_http(502, "")
	var unavailable := AgentVMResult.from_http(503, "")
	var limited := AgentVMResult.from_http(429, "", PackedStringArray(["Retry-After: 3"]))
	var invalid := AgentVMResult.from_http(400, "")
	var missing := AgentVMResult.from_http(404, "")
	t.check("unreachable: retry even a POST (it never arrived)", AgentVMBackoff.should_retry(unreachable, "POST", 1, 3))
	t.check("timeout: retry a GET", AgentVMBackoff.should_retry(timeout, "GET", 1, 3))
	t.check("timeout: not a POST (it may have been done)", not AgentVMBackoff.should_retry(timeout, "POST", 1, 3))
	t.check("500: retry a PUT", AgentVMBackoff.should_retry(server_error, "PUT", 1, 3))
	t.check("502: not a POST", not AgentVMBackoff.should_retry(bad_gateway, "POST", 1, 3))
	t.check("503: retry a POST (refused before any work)", AgentVMBackoff.should_retry(unavailable, "POST", 1, 3))
	t.check("429: retry a POST", AgentVMBackoff.should_retry(limited, "POST", 1, 3))
	t.check("400: never", not AgentVMBackoff.should_retry(invalid, "GET", 1, 3))
	t.check("404: never", not AgentVMBackoff.should_retry(missing, "GET", 1, 3))
	t.check("success: never", not AgentVMBackoff.should_retry(AgentVMResult.success(200, {}), "GET", 1, 3))
	t.check("after max_retries: stop", not AgentVMBackoff.should_retry(unreachable, "GET", 4, 3))
	t.check("max_retries 0: no retry", not AgentVMBackoff.should_retry(unreachable, "GET", 1, 0))
	t.equal("Retry-After wins over a shorter backoff", AgentVMBackoff.wait_before_retry_s(limited, 1, 0.5, 8.0, 1.0), 3.0)
	t.equal("a longer backoff wins over Retry-After", AgentVMBackoff.wait_before_retry_s(limited, 5, 0.5, 8.0, 1.0), 8.0)
	t.done()
