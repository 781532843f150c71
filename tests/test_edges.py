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
