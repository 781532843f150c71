"""Priority lanes in one process (rule 7 of _ratelimit.py), in virtual time."""

from __future__ import annotations

import asyncio

import pytest

import yativo_async as y
from yativo_async._ratelimit import Lane, SlidingWindowLimiter, reserved_slots


def now() -> float:
    return asyncio.get_running_loop().time()


async def _batch_job(limiter: SlidingWindowLimiter, calls: int, latency: float,
                     done: list[float], started: list[float] | None = None) -> None:
    async def one() -> None:
        slot = await limiter.acquire(lane="batch")
        if started is not None:
            started.append(now())
        await asyncio.sleep(latency)  # the request in flight
        slot.release()
        done.append(now())

    await asyncio.gather(*(one() for _ in range(calls)))


@pytest.mark.looptime
async def test_interactive_gets_budget_at_once_while_10000_batch_calls_saturate() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(60, 60.0)], interactive_reserve=0.1)
    done: list[float] = []
    job = asyncio.create_task(_batch_job(limiter, 10_000, 0.2, done))
    await asyncio.sleep(90)  # the batch job has saturated the key for a while
    assert limiter.waiting > 9_000
    assert limiter.status()[0].remaining == 6  # the reserve: batch may not take it
    t0 = now()
    slot = await limiter.acquire()  # a web request: interactive by default
    assert now() == t0  # at once
    slot.release()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job


@pytest.mark.looptime
async def test_without_reserve_interactive_starts_within_one_slot_ahead_of_1000_batch() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(10, 1.0)], interactive_reserve=0.0)
    done: list[float] = []
    started: list[float] = []
    job = asyncio.create_task(_batch_job(limiter, 1_000, 0.05, done, started))
    await asyncio.sleep(5.5)
    assert limiter.waiting > 900
    t0 = now()
    batch_before = len(started)
    slot = await limiter.acquire()
    # The next slot to free is its (no batch call starts in between), not one behind the
    # 900+ batch calls queued before it (90 s away).
    assert started[batch_before:] == [] or min(started[batch_before:]) >= now()
    assert now() - t0 <= 1.0
    await asyncio.sleep(0)
    assert len(started) - batch_before == 9  # the batch job takes the other 9 of that moment
    slot.release()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job


@pytest.mark.looptime
async def test_interactive_waiters_go_first_fifo_within_each_lane() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 1.0)])
    order: list[str] = []
    held = await limiter.acquire()

    async def call(name: str, lane: Lane) -> None:
        slot = await limiter.acquire(lane=lane)
        order.append(name)
        slot.release()

    tasks = []
    lanes: list[tuple[str, Lane]] = [("b1", "batch"), ("i1", "interactive"), ("b2", "batch"),
                                     ("i2", "interactive"), ("b3", "batch")]
    for name, lane in lanes:
        tasks.append(asyncio.create_task(call(name, lane)))
        await asyncio.sleep(0)
    held.release()
    await asyncio.gather(*tasks)
    assert order == ["i1", "i2", "b1", "b2", "b3"]


@pytest.mark.looptime
async def test_batch_alone_gets_the_whole_window_but_the_reserve() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(60, 60.0)], interactive_reserve=0.25)
    done: list[float] = []
    t0 = now()
    job = asyncio.create_task(_batch_job(limiter, 45 * 4, 0.0, done))
    await asyncio.sleep(60 * 4 - 1)
    # 45 per window (60 less the 25% reserve): the batch job keeps its share, no more
    assert len(done) == 45 * 4
    for i in range(len(done) - 45):
        assert done[i + 45] - done[i] >= 60.0 - 1e-6  # never more than 45 in any window
    assert done[-1] - t0 <= 3 * 60 + 1e-6
    await job


@pytest.mark.looptime
async def test_batch_max_wait_counts_the_interactive_queue_and_the_reserve() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(4, 10.0)], interactive_reserve=0.25)
    for _ in range(3):
        (await limiter.acquire(lane="batch")).release()
    # batch may use 3 of 4: the next batch slot frees after 10 s; interactive has one now
    with pytest.raises(y.RateLimitError) as info:
        await limiter.acquire(lane="batch", max_wait=1.0)
    assert info.value.retry_after == pytest.approx(10.0)
    (await limiter.acquire(max_wait=0)).release()


@pytest.mark.looptime
async def test_a_cancelled_batch_waiter_leaks_nothing() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 1.0)])
    held = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire(lane="batch"))
    await asyncio.sleep(0.1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.waiting == 0
    held.release()
    await asyncio.sleep(1.0)
    assert limiter.status()[0].remaining == 1


@pytest.mark.parametrize(("limit", "share", "expected"),
                         [(60, 0.1, 6), (5, 0.1, 1), (1, 0.5, 0), (10, 0.0, 0), (3, 0.99, 2)])
def test_reserved_slots_round_up_but_leave_batch_one(limit: int, share: float,
                                                     expected: int) -> None:
    assert reserved_slots(limit, share) == expected


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_client_rejects_a_reserve_outside_0_1(bad: float) -> None:
    with pytest.raises(ValueError, match="interactive_reserve"):
        y.YativoClient(access_token="t", interactive_reserve=bad)


def test_client_rejects_a_reserve_that_is_not_a_number() -> None:
    with pytest.raises(TypeError, match="interactive_reserve"):
        y.YativoClient(access_token="t", interactive_reserve="10%")  # type: ignore[arg-type]


async def test_an_unknown_lane_is_refused_before_anything() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 1.0)])
    with pytest.raises(ValueError, match="lane"):
        await limiter.acquire(lane="urgent")  # type: ignore[arg-type]


@pytest.mark.looptime
async def test_the_client_keeps_the_reserve_from_a_batch_view(fake: object) -> None:
    from yativo_async.testing import FakeYativo

    assert isinstance(fake, FakeYativo)
    client = y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                            rate_limits=[y.RateLimit(10, 60.0)], interactive_reserve=0.2)
    batch = client.with_options(priority="batch", max_wait=0)
    for _ in range(8):
        await batch.api_keys.list()
    with pytest.raises(y.RateLimitError) as info:
        await batch.api_keys.list()  # the last 2 of 10 are the interactive lane's
    assert info.value.from_client
    t0 = now()
    await client.api_keys.list()  # a web request: at once
    await client.api_keys.list()
    assert now() == t0
    assert fake.count("status:429") == 0
    await client.aclose()
