"""Edges found by mutation testing (``python tools/mutation.py``): each test here kills
mutants that the modules' main test files let live. Grouped by module."""

from __future__ import annotations

import asyncio
import random

import pytest

import yativo_async as y
from yativo_async._ratelimit import SlidingWindowLimiter
from yativo_async._retry import backoff, is_retryable, should_stop

# _retry -----------------------------------------------------------------------------------

POLICY = y.RetryPolicy()


class _Edge(random.Random):
    """An RNG whose ``uniform`` returns one end of the range, to read backoff's bounds."""

    def __init__(self, upper: bool) -> None:
        super().__init__(0)
        self.upper = upper

    def uniform(self, a: float, b: float) -> float:
        return b if self.upper else a


def test_only_yativo_errors_are_retried() -> None:
    assert is_retryable(ValueError("a bug"), POLICY, idempotent=True) is False
    assert is_retryable(asyncio.CancelledError(), POLICY, idempotent=True) is False


def test_a_token_exchange_failure_is_left_to_the_provider() -> None:
    exc = y.ServerError("down", status=503)
    assert is_retryable(exc, POLICY, idempotent=True) is True
    exc.from_token_exchange = True
    assert is_retryable(exc, POLICY, idempotent=True) is False


def test_a_decode_error_is_not_retried() -> None:
    assert is_retryable(y.ResponseDecodeError("bad"), POLICY, idempotent=True) is False


def test_429_retry_needs_a_server_429_and_429_in_the_policy() -> None:
    server = y.RateLimitError("slow down")
    own = y.RateLimitError("budget", from_client=True)
    assert is_retryable(server, POLICY, idempotent=False) is True
    assert is_retryable(own, POLICY, idempotent=True) is False
    without = y.RetryPolicy(retry_statuses=frozenset({503}))
    assert is_retryable(server, without, idempotent=True) is False


def test_mixed_failure_kinds() -> None:
    lost = y.APIConnectionError("reset", maybe_sent=True)
    never_left = y.APIConnectionError("refused", maybe_sent=False)
    assert is_retryable(lost, POLICY, idempotent=True) is True
    assert is_retryable(lost, POLICY, idempotent=False) is False  # may have been created
    assert is_retryable(never_left, POLICY, idempotent=False) is True
    no_conn = y.RetryPolicy(retry_connection_errors=False)
    assert is_retryable(never_left, no_conn, idempotent=True) is False
    assert is_retryable(y.ServerError("x", status=500), POLICY, idempotent=True) is True
    assert is_retryable(y.ServerError("x", status=500), POLICY, idempotent=False) is False
    no500 = y.RetryPolicy(retry_500_idempotent=False)
    assert is_retryable(y.ServerError("x", status=500), no500, idempotent=True) is False
    busy = y.ServerError("x", status=503, retry_after=1.0)
    assert is_retryable(busy, POLICY, idempotent=False) is True
    assert is_retryable(y.ServerError("x", status=503), POLICY, idempotent=False) is False
    no503 = y.RetryPolicy(retry_statuses=frozenset({429}))
    assert is_retryable(busy, no503, idempotent=False) is False
    assert is_retryable(y.NotFoundError("x", status=404), POLICY, idempotent=True) is False


def test_stop_at_exactly_max_attempts_and_max_elapsed() -> None:
    exc = y.ServerError("x", status=503)
    policy = y.RetryPolicy(max_attempts=3, max_elapsed=10.0)
    assert should_stop(policy, 2, 0.0, exc) is False
    assert should_stop(policy, 3, 0.0, exc) is True
    assert should_stop(policy, 1, 9.99, exc) is False
    assert should_stop(policy, 1, 10.0, exc) is True


def test_stop_on_retry_after_boundaries() -> None:
    policy = y.RetryPolicy(max_elapsed=100.0, max_retry_after=30.0)
    at = y.ServerError("x", status=503, retry_after=30.0)
    past = y.ServerError("x", status=503, retry_after=30.5)
    assert should_stop(policy, 1, 0.0, at) is False
    assert should_stop(policy, 1, 0.0, past) is True
    # ...and a wait that would end past max_elapsed is not started.
    assert should_stop(policy, 1, 70.0, at) is False  # ends at exactly 100
    assert should_stop(policy, 1, 70.5, at) is True


def test_backoff_doubles_from_zero_up_to_its_ceiling() -> None:
    policy = y.RetryPolicy(backoff_base=0.5, backoff_max=3.0)
    exc = y.ServerError("x", status=502)
    ceilings = [backoff(policy, n, exc, _Edge(upper=True)) for n in (1, 2, 3, 4, 5)]
    assert ceilings == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff(policy, 3, exc, _Edge(upper=False)) == 0.0  # full jitter starts at 0


def test_retry_after_replaces_backoff() -> None:
    exc = y.ServerError("x", status=503, retry_after=7.0)
    assert backoff(POLICY, 1, exc, _Edge(upper=True)) == 7.0


@pytest.mark.looptime
async def test_a_call_stops_retrying_when_its_time_is_spent() -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(1000.0)  # the loop's clock is far from 0: elapsed is measured, not read
    sent: list[float] = []

    def busy(request: y.Request) -> y.Response:
        sent.append(loop.time())
        return y.Response(status=503, headers={"retry-after": "4"}, body=b"{}")

    policy = y.RetryPolicy(max_attempts=10, max_elapsed=10.0)
    async with y.YativoClient(access_token="t", transport=y.MockTransport(busy), retry=policy,
                              rate_limits=[]) as client:
        with pytest.raises(y.ServerError):
            await client.api_keys.list()
    # Attempts at 0, 4 and 8 s; a fourth would start at 12 s, past max_elapsed.
    assert [t - sent[0] for t in sent] == pytest.approx([0.0, 4.0, 8.0])


# _ratelimit -------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_max_wait_expires_while_queued() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 1.0)], max_wait=5.0)
    held = await limiter.acquire()  # in flight and never answered
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(y.RateLimitError) as info:
        await limiter.acquire()  # the earliest start (1 s) is within max_wait: it queues...
    assert loop.time() - t0 == pytest.approx(5.0)  # ...and gives up when max_wait is spent
    assert info.value.from_client
    assert info.value.retry_after == pytest.approx(1.0)  # at the head: one window after now
    assert limiter.waiting == 0
    held.release()


@pytest.mark.looptime
async def test_a_cancelled_acquire_raises_and_takes_nothing() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 10.0)])
    held = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(1.0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.waiting == 0
    held.release(sent=False)  # given back unstamped: the slot is free at once
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    (await limiter.acquire()).release()
    assert loop.time() == t0


@pytest.mark.looptime
async def test_a_pause_holds_the_next_request_until_it_ends() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(100, 1.0)])
    (await limiter.acquire()).release()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    limiter.pause_until(t0 + 3.0)  # a 429 with Retry-After: 3
    (await limiter.acquire()).release()
    assert loop.time() - t0 == pytest.approx(3.0)
    t1 = loop.time()
    (await limiter.acquire()).release()  # the pause is over: no wait
    assert loop.time() == t1


def test_a_looser_server_limit_is_ignored() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(5, 1.0), y.RateLimit(50, 60.0)])
    limiter.adopt_unknown_period(10)
    limiter.adopt([y.RateLimit(500, 60.0)])
    assert limiter.limits == (y.RateLimit(5, 1.0), y.RateLimit(50, 60.0))
    limiter.adopt_unknown_period(3)
    limiter.adopt([y.RateLimit(40, 60.0)])
    assert limiter.limits == (y.RateLimit(3, 1.0), y.RateLimit(40, 60.0))
    limiter.adopt_unknown_period(0)  # a nonsense quota is not adopted
    assert limiter.limits[0] == y.RateLimit(3, 1.0)


@pytest.mark.looptime
async def test_a_second_looser_server_budget_is_ignored() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(100, 60.0)])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    limiter.server_budget(2, t0 + 10.0)
    limiter.server_budget(50, t0 + 5.0)  # looser and shorter: the first still holds
    for _ in range(2):
        (await limiter.acquire()).release()
    assert loop.time() == t0
    (await limiter.acquire()).release()
    assert loop.time() - t0 == pytest.approx(10.0)


@pytest.mark.looptime
async def test_a_server_budget_above_our_own_free_budget_is_ignored() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(3, 60.0)])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    limiter.server_budget(3, t0 + 60.0)  # what we have ourselves: nothing new
    for _ in range(3):
        (await limiter.acquire()).release()
    assert loop.time() == t0


@pytest.mark.looptime
async def test_a_server_budget_is_weighed_over_its_whole_time_not_this_minute() -> None:
    # The minute window is spent (nothing free now) and the server says 5 are left this
    # hour: that was "not less than what is free now" and ignored, so the next minutes sent
    # 10 each and the server answered 429 (a spent hourly or daily budget: a 429 storm).
    limiter = SlidingWindowLimiter([y.RateLimit(10, 60.0)])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(10):
        (await limiter.acquire()).release()
    limiter.server_budget(5, t0 + 3600.0)
    await asyncio.sleep(61)
    started = 0
    while True:
        try:
            (await limiter.acquire(max_wait=0)).release()
        except y.RateLimitError:
            break
        started += 1
    assert started == 5
    (await limiter.acquire()).release()  # the sixth: when the server's hour is over
    assert loop.time() - t0 == pytest.approx(3600.0)


@pytest.mark.looptime
async def test_a_server_budget_a_period_away_counts_no_renewal() -> None:
    # A slot taken now frees a period from now: not before a reset exactly a period away.
    # Counting a window's worth there adopted "59 left in 60 s" against a 60-a-minute
    # window with 59 free (only where the loop's clock gave exactly 60 s: uvloop's does).
    limiter = SlidingWindowLimiter([y.RateLimit(60, 60.0)])
    t0 = asyncio.get_running_loop().time()
    (await limiter.acquire()).release()
    limiter.server_budget(59, t0 + 60.0)
    assert limiter._cap_left is None
    limiter.server_budget(58, t0 + 60.0)  # less than is free: adopted
    assert limiter._cap_left == 58
    fresh = SlidingWindowLimiter([y.RateLimit(60, 60.0)])
    fresh.server_budget(59, t0 + 60.5)  # past a period: ours would let 119 start by then
    assert fresh._cap_left == 59


def test_the_limiters_refuse_bad_settings() -> None:
    with pytest.raises(ValueError, match="at least one RateLimit"):
        SlidingWindowLimiter([])
    with pytest.raises(ValueError, match="max_wait"):
        SlidingWindowLimiter([y.RateLimit(1, 1.0)], max_wait=-1.0)
    with pytest.raises(TypeError, match="RateLimit"):
        SlidingWindowLimiter([(1, 1.0)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="max_wait"):
        SlidingWindowLimiter([y.RateLimit(1, 1.0)], max_wait="soon")  # type: ignore[arg-type]
    SlidingWindowLimiter([y.RateLimit(1, 1.0)], max_wait=0)


@pytest.mark.looptime
async def test_one_caller_at_a_time_still_waits_for_budget() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 10.0)])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    (await limiter.acquire()).release()
    (await limiter.acquire()).release()  # nobody queued, no budget: it waits all the same
    assert loop.time() - t0 == pytest.approx(10.0)


@pytest.mark.looptime
async def test_a_call_that_can_start_exactly_at_max_wait_waits() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 10.0)])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    (await limiter.acquire()).release()
    (await limiter.acquire(max_wait=10.0)).release()
    assert loop.time() - t0 == pytest.approx(10.0)
    with pytest.raises(y.RateLimitError):
        await limiter.acquire(max_wait=9.99)


@pytest.mark.looptime
async def test_earliest_start_when_the_server_lowered_the_limit_below_the_slots_in_use() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(4, 10.0)])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(4):
        (await limiter.acquire()).release()  # four stamps, freeing at t0 + 10
    limiter.adopt([y.RateLimit(2, 10.0)])  # the server says 2: two over the new limit
    # Two of the four must free before there is room for one more (at t0 + 10), and the
    # third request from now waits one more round.
    assert limiter.earliest_start(t0, ahead=0) == pytest.approx(t0 + 10.0)
    assert limiter.earliest_start(t0, ahead=1) == pytest.approx(t0 + 10.0)
    assert limiter.earliest_start(t0, ahead=2) == pytest.approx(t0 + 20.0)


async def test_the_null_limiter_never_waits_and_reports_nothing() -> None:
    from yativo_async._ratelimit import NullLimiter

    limiter = NullLimiter()
    slot = await limiter.acquire(max_wait=0)
    slot.release()
    assert limiter.waiting == 0
    assert limiter.time_waited == 0.0
    assert limiter.status() == []
    assert limiter.limits == ()
    # the hot path's question: a slot at once, every time, whatever the priority
    for priority in (False, True):
        fast = limiter.try_acquire(priority=priority)
        assert fast is not None
        fast.release()


def test_a_new_clients_fleet_counters_start_at_zero() -> None:
    assert y.FleetStats() == y.FleetStats(redis_outages=0, fallback_slots=0, reseeds=0)
    stats = y.YativoClient(access_token="t").stats
    assert stats.fleet == y.FleetStats(redis_outages=0, fallback_slots=0, reseeds=0)
    assert {stats.as_dict()[k] for k in ("redis_outages", "redis_fallback_slots",
                                         "redis_reseeds")} == {0}


def test_window_status_is_keyword_only() -> None:
    from yativo_async._ratelimit import WindowStatus

    with pytest.raises(TypeError):
        WindowStatus(1, 1.0, 0, 0, 1, 0.0)  # type: ignore[misc]


@pytest.mark.looptime
async def test_time_waited_sums_the_waits() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 2.0)])
    assert limiter.time_waited == 0.0
    (await limiter.acquire()).release()
    assert limiter.time_waited == 0.0
    (await limiter.acquire()).release()  # waits 2 s
    (await limiter.acquire()).release()  # and 2 more
    assert limiter.time_waited == pytest.approx(4.0)


@pytest.mark.looptime
async def test_an_expired_server_cap_does_not_tighten_the_next_one() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(100, 60.0)])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    limiter.server_budget(0, t0 + 1.0)
    await asyncio.sleep(2.0)  # that cap is over (no call looked at it meanwhile)
    limiter.server_budget(1, t0 + 10.0)  # one more is allowed now
    t1 = loop.time()
    (await limiter.acquire()).release()
    assert loop.time() == t1


@pytest.mark.looptime
async def test_max_wait_sees_the_servers_cap() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(100, 60.0)])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    limiter.server_budget(1, t0 + 10.0)
    (await limiter.acquire()).release()  # the one the server still allows
    with pytest.raises(y.RateLimitError) as info:
        await limiter.acquire(max_wait=5.0)
    assert loop.time() == t0  # known at once: the cap holds until t0 + 10
    assert info.value.retry_after == pytest.approx(10.0)
    (await limiter.acquire(max_wait=10.0)).release()
    assert loop.time() - t0 == pytest.approx(10.0)


# _errors ----------------------------------------------------------------------------------

def test_error_defaults_say_what_may_have_happened() -> None:
    assert y.APIConnectionError().maybe_sent is True  # unknown: assume it may have left
    assert y.APITimeoutError().maybe_sent is True
    assert y.ClientClosedError().maybe_sent is False
    assert isinstance(y.ClientClosedError(), RuntimeError)
    limited = y.RateLimitError("slow down")
    assert limited.status == 429
    assert limited.from_client is False


def test_a_shared_failure_is_cloned_per_waiter() -> None:
    original = y.ServerError("down", status=503, retry_after=2.0)
    original.from_token_exchange = True
    clone = original._clone()
    assert clone is not original
    assert type(clone) is y.ServerError
    assert (clone.status, clone.retry_after, clone.from_token_exchange, clone.args) == (
        503, 2.0, True, original.args)
    assert str(clone) == str(original)


# _sansio ----------------------------------------------------------------------------------

from yativo_async import _sansio as wire  # noqa: E402

NOW = 1_800_000_000.0  # an epoch "now" for the parsers


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        ("0", 0.0),
        (" 2.5 ", 2.5),
        ("", None),
        ("   ", None),
        ("-1", None),
        ("-0.001", None),
        ("inf", None),
        ("nan", None),
        ("soon", None),
    ],
)
def test_retry_after_values(value: str, seconds: float | None) -> None:
    assert wire.parse_retry_after(value, now_epoch=NOW) == seconds


def test_retry_after_as_an_http_date() -> None:
    import email.utils

    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert wire.parse_retry_after(date, now_epoch=NOW) == pytest.approx(90.0)
    past = email.utils.formatdate(NOW - 90, usegmt=True)
    assert wire.parse_retry_after(past, now_epoch=NOW) == 0.0


@pytest.mark.parametrize(
    ("reset", "seconds"),
    [
        ("30", 30.0),  # seconds from now
        ("0", 0.0),
        ("-5", None),
        ("inf", None),
        ("nan", None),
        (str(int(NOW) + 40), 40.0),  # an epoch timestamp
        (str(int(NOW) - 40), 0.0),  # one in the past: free now
        (str(int(NOW * 1000) + 40_000), 40.0),  # epoch milliseconds
        ("999999999", 999_999_999.0),  # just under the epoch threshold: seconds
        ("1000000000", 0.0),  # at it: an epoch (long past)
        ("999999999999", 999_999_999_999.0 - NOW),  # under the ms threshold: epoch seconds
        ("1000000000000", 0.0),  # at it: epoch milliseconds (long past)
    ],
)
def test_reset_values(reset: str, seconds: float | None) -> None:
    info = wire.parse_rate_limit_headers({"x-ratelimit-reset": reset}, now_epoch=NOW)
    if seconds is None:
        assert info.reset_after is None
    else:
        assert info.reset_after == pytest.approx(seconds)


def test_no_headers_means_nothing() -> None:
    info = wire.parse_rate_limit_headers({}, now_epoch=NOW)
    assert info == wire.ServerLimits()
    assert info.retry_after is info.reset_after is info.limit is info.remaining is None
    assert info.policies == ()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ('100;w=60', [y.RateLimit(100, 60.0)]),
        ('q=5;w=1', [y.RateLimit(5, 1.0)]),
        ('"burst";q=5;w=1, "daily";q=1000;w=86400',
         [y.RateLimit(5, 1.0), y.RateLimit(1000, 86400.0)]),
        (', ,;w=1, q=5;w=1', [y.RateLimit(5, 1.0)]),  # empty items skipped, the rest read
        ('q=abc;w=1, q=5;w=x, q=5;w=inf, q=5', []),  # malformed items ignored
        ('"a";q=5;w=1, garbage, "b";q=7;w=2', [y.RateLimit(5, 1.0), y.RateLimit(7, 2.0)]),
    ],
)
def test_malformed_policy_items_are_skipped(policy: str, expected: list[y.RateLimit]) -> None:
    info = wire.parse_rate_limit_headers({"ratelimit-policy": policy}, now_epoch=NOW)
    assert list(info.policies) == expected


def test_cap_server_limits_bounds_and_notes() -> None:
    info = wire.ServerLimits(retry_after=120.0, reset_after=60.0,
                             policies=(y.RateLimit(5, 1.0), y.RateLimit(9, 1e9)))
    capped, notes = wire.cap_server_limits(info, max_pause=60.0, max_period=3600.0)
    assert capped.retry_after == 60.0
    assert capped.reset_after == 60.0  # at the bound: kept
    assert capped.policies == (y.RateLimit(5, 1.0), y.RateLimit(9, 3600.0))
    assert len(notes) == 2
    hourly = wire.ServerLimits(remaining=40, reset_after=2080.0)
    kept, quiet = wire.cap_server_limits(hourly, max_pause=60.0, max_period=3600.0)
    assert kept.reset_after == 2080.0 and quiet == []  # budget left: not a pause, no warning
    spent = wire.ServerLimits(remaining=0, reset_after=2080.0)
    paused, noted = wire.cap_server_limits(spent, max_pause=60.0, max_period=3600.0)
    assert paused.reset_after == 60.0 and len(noted) == 1
    far = wire.ServerLimits(remaining=40, reset_after=1e6)
    assert wire.cap_server_limits(far, max_pause=60.0, max_period=3600.0)[0].reset_after == 3600.0
    same, none = wire.cap_server_limits(wire.ServerLimits(retry_after=60.0), max_pause=60.0,
                                         max_period=1.0)
    assert same.retry_after == 60.0 and none == []


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, "Bad Request"), (401, "Unauthorized"), (403, "Forbidden"), (404, "Not Found"),
     (409, "Conflict"), (422, "Unprocessable Entity"), (429, "Too Many Requests"),
     (500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable"),
     (504, "Gateway Timeout"), (418, "error")],
)
def test_a_bodiless_error_says_its_status(status: int, message: str) -> None:
    exc = wire.error_from_response(status, {}, b"")
    assert exc.message == message
    assert exc.body is None


def test_status_boundaries() -> None:
    assert [wire.is_success(s) for s in (199, 200, 299, 300)] == [False, True, True, False]
    moved = wire.error_from_response(300, {"location": "https://u:p@evil.example/x"}, b"")
    assert "HTTP 300" in moved.message and "(to evil.example)" in moved.message
    assert "u:p" not in moved.message
    relative = wire.error_from_response(399, {"location": "/elsewhere"}, b"")
    assert "(to a relative URL)" in relative.message
    assert "redirect" not in wire.error_from_response(400, {}, b"").message
    assert "informational" in wire.error_from_response(101, {}, b"").message


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'{"message": "nope"}', "application/json", "nope"),
        (b'"just a string"', "application/json", "just a string"),
        (b'{"error": {"detail": "deep"}}', "", "deep"),
        (b'{"errors": [{"msg": "a"}, "b", 3]}', "", "a; b; 3"),
        (b'{"errors": [[1], {"x": 1}]}', "", None),  # nothing readable
        (b'{"a": {"b": {"c": {"d": {"e": {"f": {"message": "too deep"}}}}}}}', "", None),
        (b'{"error": {"error": {"error": {"error": {"error": {"error": "six"}}}}}}', "", None),
        (b'{"error": {"error": {"error": {"error": {"error": "five"}}}}}', "", "five"),
        (b'[1, 2]', "", None),
        (b"<html><title>Bad gateway</title></html>", "text/html", "Bad gateway"),
        (b"<html><h1>Oops</h1></html>", "", "Oops"),
        (b"<html><body>x</body></html>", "", "an HTML error page (probably from a proxy)"),
        (b"plain text\nsecond line", "text/plain", "plain text"),
        (b"   ", "", None),
        (b'{"message": "", "detail": "the detail"}', "", "the detail"),  # empty: look on
        (b'{"errors": [], "msg": "m"}', "", "m"),
        (b'{"message": "cut', "application/json", '{"message": "cut'),  # not JSON: as text
        (b"<p>no title</p>", "text/plain", "an HTML error page (probably from a proxy)"),
        (b"<title>t</title>", "application/json", "t"),
    ],
)
def test_messages_found_in_bodies(body: bytes, content_type: str, message: str | None) -> None:
    assert wire.extract_message(body, content_type) == message


def test_long_messages_are_cut() -> None:
    assert len(wire.extract_message(b"x" * 5000, "") or "") == 500
    assert len(wire.extract_message(b'{"message": "' + b"y" * 5000 + b'"}', "") or "") == 500
    long_title = b"<title>" + b"z" * 5000 + b"</title>"
    assert len(wire.extract_message(long_title, "text/html") or "") == 200
    assert len(wire.extract_message(b'{"errors": ["' + b"w" * 900 + b'"]}', "") or "") == 500
    assert len(wire.extract_message(b'{"errors": [' + b"7" * 900 + b"]}", "") or "") == 200


@pytest.mark.parametrize(
    ("body", "fails"),
    [
        (b'{"success": false, "message": "not revoked"}', True),
        (b'{"status": "error", "message": "x"}', True),
        (b'{"status": "FAILED"}', True),
        (b'{"success": true}', False),
        (b'{"status": "ok"}', False),
        (b'{"success": 0}', False),  # only an explicit false
        (b'{"status": 3}', False),
        (b'["success", false]', False),
        (b"success: false", False),  # not JSON
        (b'{"data": {}}', False),
        (b"", False),
    ],
)
def test_failure_envelopes(body: bytes, fails: bool) -> None:
    found = wire.reported_failure(200, {"x-request-id": "r1"}, body)
    assert (found is not None) is fails
    if found is not None:
        assert isinstance(found, y.APIStatusError)
        assert found.status == 200 and found.request_id == "r1"
        assert "reported a failure" in str(found)


def test_a_failure_envelope_message() -> None:
    found = wire.reported_failure(200, {}, b'{"success": false, "message": "key is locked"}')
    assert found is not None and found.message.endswith("key is locked")
    bare = wire.reported_failure(200, {}, b'{"success": false}')
    assert bare is not None and bare.message.endswith("the server reported a failure")


def test_error_bodies_mask_secret_fields_at_any_depth_and_in_lists() -> None:
    body = (b'{"api_secret": "S1", "data": [{"access_token": "T1", "name": "n"}],'
            b' "nested": {"password": "P1", "ok": null}, "message": "m"}')
    kept = wire.safe_body(body)
    for secret in ("S1", "T1", "P1"):
        assert secret not in kept
    assert '"name": "n"' in kept and '"message": "m"' in kept and '"ok": null' in kept


def test_deep_bodies_are_cut_not_recursed() -> None:
    deep: object = "bottom"
    for _ in range(40):
        deep = [deep]
    import json as _json

    kept = wire.safe_body(_json.dumps(deep).encode())
    assert "bottom" not in kept and '"..."' in kept
    shallow: object = "bottom"
    for _ in range(30):
        shallow = [shallow]
    assert "bottom" in wire.safe_body(_json.dumps(shallow).encode())


def test_body_cap_boundary() -> None:
    exact = b"a" * wire.BODY_CAP
    assert wire.safe_body(exact) == exact.decode()
    over = wire.safe_body(b"a" * (wire.BODY_CAP + 1))
    assert over == "a" * wire.BODY_CAP + "...[truncated]"


def test_non_json_bodies_are_redacted_as_text() -> None:
    kept = wire.safe_body(b'oops "api_secret": "S2" Authorization: Bearer abc.def')
    assert "S2" not in kept and "abc.def" not in kept


@pytest.mark.parametrize("key_id", [".", "..", "", "a/b", "a b", "a?b", "a#b"])
def test_key_ids_that_are_not_one_segment(key_id: str) -> None:
    with pytest.raises(ValueError, match="not a valid key id"):
        wire.key_path(key_id)


def test_key_id_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="key_id must be a str"):
        wire.key_path(5)  # type: ignore[arg-type]
    assert wire.key_path("...") == "/apikey/..."  # three dots is a name, not a traversal
    assert wire.key_path("a.b", "/revoke") == "/apikey/a.b/revoke"


@pytest.mark.parametrize(
    ("headers", "limit", "remaining", "reset"),
    [
        ({"ratelimit": "limit=100, remaining=50, reset=30"}, 100, 50, 30.0),  # draft-07
        ({"ratelimit": "limit=100, remaining=50"}, 100, 50, None),
        ({"ratelimit": '"default";r=7;t=12, "other";r=1;t=99'}, None, 7, 12.0),  # draft-08
        ({"ratelimit": '"default";r=7'}, None, 7, None),
    ],
)
def test_ratelimit_field_drafts(headers: dict[str, str], limit: int | None,
                                remaining: int | None, reset: float | None) -> None:
    info = wire.parse_rate_limit_headers(headers, now_epoch=NOW)
    assert (info.limit, info.remaining, info.reset_after) == (limit, remaining, reset)


def test_mask_secrets_ignores_empty_and_short_values() -> None:
    assert wire.mask_secrets("abc", ("",)) == "abc"
    assert wire.mask_secrets("a token1 b token1", ("token1", "")) == "a *** b ***"
    assert wire.mask_secrets("code 123456", ("123456",)) == "code ***"  # a 2FA code
    # a token "e" must not garble the server's message
    assert wire.mask_secrets("Unauthenticated: invalid token", ("e", " ", "tok")) == (
        "Unauthenticated: invalid token")


def test_error_texts_and_reprs() -> None:
    exc = y.NotFoundError("no such key", status=404, request_id="req-1")
    assert str(exc) == "HTTP 404: no such key (request id req-1)"
    assert repr(exc) == "NotFoundError(status=404, request_id='req-1', message='no such key')"
    assert str(y.NotFoundError("x", status=404)) == "HTTP 404: x"
    server = y.RateLimitError("slow down", retry_after=3.0)
    assert str(server) == "HTTP 429: slow down"
    assert repr(server).startswith("RateLimitError(status=429")
    own = y.RateLimitError("no budget within max_wait", retry_after=3.0, from_client=True)
    assert str(own) == "no budget within max_wait"
    assert repr(own) == ("RateLimitError(client_side=True, retry_after=3.0, "
                         "message='no budget within max_wait')")
    bad = y.ResponseDecodeError("not a key", status=200, request_id="r")
    assert str(bad) == "not a key (request id r)"
    assert repr(bad) == "ResponseDecodeError(status=200, request_id='r', message='not a key')"
    assert str(y.ResponseDecodeError("not a key")) == "not a key"


def test_a_decode_error_takes_a_request_id_once() -> None:
    bare = y.ResponseDecodeError("x", status=200)
    assert bare.with_request_id(None) is bare
    tagged = bare.with_request_id("r1")
    assert tagged is not bare and tagged.request_id == "r1" and bare.request_id is None
    assert tagged.with_request_id("r2") is tagged  # the first id stays


def test_adopt_rate_limits_refuses_what_is_not_a_rate_limit() -> None:
    client = y.YativoClient(access_token="t")
    with pytest.raises(TypeError, match="RateLimit"):
        client.adopt_rate_limits([(5, 1.0)])  # type: ignore[list-item]
    client.adopt_rate_limits([y.RateLimit(5, 1.0)])
    assert y.RateLimit(5, 1.0) in client.rate_limits


def test_a_windows_next_free_and_earliest_start_reserve_nothing_by_default() -> None:
    from yativo_async._ratelimit import _Window

    w = _Window(2, 10.0)
    w.releases.append(-5.0)  # one slot used, stamped at t=-5: back at t=5; one free now
    assert w.next_free(1.0) == 1.0
    assert w.next_free(1.0, 1) == 5.0  # with one reserved, the free one is not ours
    assert w.earliest_start(1.0, 0) == 1.0
    assert w.earliest_start(1.0, 0, 1) == 5.0
