@tool
class_name AgentVMBackoff
extends RefCounted
## When to retry and how long to wait: randomised exponential backoff for REST calls and
## WebSocket reconnects. Pure functions: the caller passes the random number, so tests are exact.


## Exponential backoff with "equal jitter": attempt 1 waits between base/2 and base, attempt 2
## between base and 2·base, … capped at max_s. The random half spreads the retries of many
## clients that failed together (a server restart) instead of sending them all at once.
static func delay_s(attempt: int, base_s: float, max_s: float, random: float) -> float:
	var ceiling := minf(max_s, base_s * pow(2.0, float(maxi(0, attempt - 1))))
	return ceiling * 0.5 + ceiling * 0.5 * clampf(random, 0.0, 1.0)


## True for methods that can be sent twice without doing the work twice.
static func is_idempotent(method: String) -> bool:
	return method == "GET" or method == "PUT" or method == "DELETE" or method == "HEAD"


## Whether a failed call should be sent again.
##
## No answer because the server was unreachable: the request never arrived, always retry.
## 429 and 503: the server refused before doing any work, always retry. Other 5xx, timeouts and
## broken connections: retry only idempotent methods — a POST whose answer was lost may have
## created its agent or task already, and sending it again would create a second one. 4xx: never,
## the same request would fail the same way.
static func should_retry(result: AgentVMResult, method: String, attempt: int, max_retries: int) -> bool:
	if result.is_ok() or attempt > max_retries:
		return false
	if result.code == AgentVMResult.UNREACHABLE or result.status == 429 or result.status == 503:
		return true
	if result.code == AgentVMResult.TIMEOUT or result.code == AgentVMResult.NETWORK_ERROR or result.status >= 500:
		return is_idempotent(method)
	return false


## Seconds to wait before retry number [param attempt]: the backoff, or longer when the server
## sent Retry-After.
static func wait_before_retry_s(result: AgentVMResult, attempt: int, base_s: float, max_s: float, random: float) -> float:
	return maxf(delay_s(attempt, base_s, max_s, random), result.retry_after_s)
