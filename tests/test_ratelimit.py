"""The exact sliding-window limiter, alone and inside the client, in virtual time."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import yativo_async as y
from yativo_async._ratelimit import SlidingWindowLimiter, reserved_slots
from yativo_async._sansio import parse_rate_limit_headers, parse_retry_after
from yativo_async.testing import FakeYativo


def now() -> float:
    return asyncio.get_running_loop().time()


@pytest.mark.looptime
@pytest.mark.parametrize(("limit", "period"), [(60, 60.0), (3000, 3600.0), (50_000, 86_400.0)])
async def test_exact_at_the_boundary(limit: int, period: float) -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(limit, period)])
    t0 = now()
    first = await limiter.acquire()
    await asyncio.sleep(1)
    first.release()  # stamped at t0 + 1: frees at t0 + 1 + period
    for _ in range(limit - 1):
        (await limiter.acquire()).release()
    assert now() == t0 + 1
    await limiter.acquire()  # the N+1-th waits for the first stamp to age out
    assert now() == pytest.approx(t0 + 1 + period, abs=1e-6)


@pytest.mark.looptime
async def test_slot_is_held_while_in_flight_and_frees_t_after_the_response() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 10.0)])
    slot = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(25)  # the request is slow: 25 s in flight
    assert not waiter.done()  # a slot in flight counts, however long
    slot.release()
    await asyncio.sleep(9.99)
    assert not waiter.done()
    await asyncio.sleep(0.02)
    assert waiter.done()  # exactly T after the response came back


@pytest.mark.looptime
async def test_windows_are_taken_atomically() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(2, 1.0), y.RateLimit(3, 10.0)], max_wait=0)
    for _ in range(2):
        (await limiter.acquire()).release()
    await asyncio.sleep(1)
    (await limiter.acquire()).release()
    await asyncio.sleep(1)  # the 1 s window is free, the 10 s window is full
    with pytest.raises(y.RateLimitError) as info:
        await limiter.acquire()
    assert info.value.from_client
    assert info.value.retry_after == pytest.approx(8.0)
    short, long = limiter.status()
    assert short.used == 0  # the refused request took nothing from the 1 s window
    assert long.used == 3
    assert short.in_flight == long.in_flight == 0


@pytest.mark.looptime
async def test_fifo_order() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 1.0)])
    order: list[int] = []

    async def take(i: int) -> None:
        (await limiter.acquire()).release()
        order.append(i)

    tasks = []
    for i in range(20):
        tasks.append(asyncio.create_task(take(i)))
        await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)
    assert order == list(range(20))


@pytest.mark.looptime
async def test_cancelled_waiter_takes_nothing_and_leaks_nothing() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 10.0)])
    (await limiter.acquire()).release()
    a = asyncio.create_task(limiter.acquire())
    b = asyncio.create_task(limiter.acquire())
    c = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(1)
    b.cancel()
    a.cancel()
    await asyncio.sleep(9.5)
    assert c.done()  # the head left: the next in line got the slot at t=10
    assert now() == pytest.approx(10.5)
    assert limiter.waiting == 0
    (await c).release()
    assert limiter.status()[0].used == 1


@pytest.mark.looptime
async def test_granted_then_cancelled_gives_the_slot_back() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 10.0)])
    slot = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    slot.release(sent=False)  # never sent: no stamp, the waiter is granted at once
    waiter.cancel()  # ... but leaves before running
    await asyncio.sleep(0)
    assert limiter.status()[0].used == 0


@pytest.mark.looptime
async def test_request_cancelled_in_flight_still_stamps() -> None:
    async def slow(request: y.Request) -> y.Response:
        await asyncio.sleep(5)
        return y.Response(status=200, body=b'{"keys": []}')

    async with y.YativoClient(access_token="t", transport=y.MockTransport(slow),
                              rate_limits=[y.RateLimit(5, 60.0)]) as client:
        task = asyncio.create_task(client.api_keys.list())
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (status,) = client.rate_limit_status()
        assert status.used == 1  # it may have reached the server...
        assert status.in_flight == 1  # ...and may still be on its way: held a while
        assert status.remaining == 4
        await asyncio.sleep(2.0)  # twice its 1 s on the way
        (status,) = client.rate_limit_status()
        assert (status.used, status.in_flight, status.remaining) == (1, 0, 4)


@pytest.mark.looptime
async def test_max_wait_decided_up_front() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(2, 60.0)], max_wait=5.0)
    for _ in range(2):
        (await limiter.acquire()).release()
    t0 = now()
    with pytest.raises(y.RateLimitError) as info:
        await limiter.acquire()
    assert now() == t0  # failed at once, not after waiting in vain
    assert info.value.retry_after == pytest.approx(60.0)
    # within max_wait: waits and gets it
    await asyncio.sleep(56)
    (await limiter.acquire()).release()
    assert now() == pytest.approx(60.0 + t0)


@pytest.mark.looptime
async def test_max_wait_counts_the_queue_ahead() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(1, 10.0)], max_wait=15.0)
    (await limiter.acquire()).release()
    first = asyncio.create_task(limiter.acquire())  # will start at t=10
    await asyncio.sleep(0)
    with pytest.raises(y.RateLimitError) as info:
        await limiter.acquire()  # behind one waiter: t=20 at best, past max_wait
    assert info.value.retry_after == pytest.approx(20.0)
    (await first).release()


@pytest.mark.looptime
async def test_waking_is_o1_per_freed_slot() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(100, 1.0)])
    checks = 0
    original = limiter._can_take

    def counting(t: float, batch: bool = False) -> bool:
        nonlocal checks
        checks += 1
        return original(t, batch)

    limiter._can_take = counting  # type: ignore[method-assign]

    async def one() -> None:
        (await limiter.acquire()).release()

    await asyncio.gather(*(one() for _ in range(10_000)))
    assert now() == pytest.approx(99.0, abs=1.01)
    assert checks < 3 * 10_000  # no herd: each freed slot looks at the head only


def test_memory_is_bounded_by_the_limit() -> None:
    async def run() -> int:
        limiter = SlidingWindowLimiter([y.RateLimit(10, 1000.0)], max_wait=0)
        for _ in range(10):
            (await limiter.acquire()).release()
        return len(limiter._windows[0].releases)

    assert asyncio.run(run()) == 10


# The client against the strict fake ---------------------------------------------------

@pytest.mark.looptime
async def test_24_hours_of_full_demand_exact_count_zero_429s() -> None:
    fake = FakeYativo()  # 60/min, 3000/h, 50000/day, strict
    async with y.YativoClient(access_token=fake.access_token,
                              transport=fake.transport()) as client:
        loop = asyncio.get_running_loop()
        end = loop.time() + 86_400 - 1
        done = 0

        async def worker() -> None:
            nonlocal done
            while loop.time() < end:
                await client.api_keys.list()
                if loop.time() < end:  # the last call of each worker ends past the day
                    done += 1

        await asyncio.gather(*(worker() for _ in range(50)))
    assert fake.count("status:429") == 0
    assert done == 50_000  # exactly the ideal: the day window is the binding one
    assert client.stats.server_429s == 0


async def test_latency_jitter_on_real_sockets_gives_zero_429s() -> None:
    limits = [y.RateLimit(20, 1.0)]
    async with FakeYativo(rate_limits=limits, seed=3) as fake:
        fake.set_faults(latency=0.005, jitter=0.03)
        async with y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                  rate_limits=limits) as client:
            await asyncio.gather(*(client.api_keys.list() for _ in range(70)))
    assert fake.count("status:429") == 0
    assert fake.count("status:200") == 70


# Learning from the server -------------------------------------------------------------

@pytest.mark.looptime
async def test_adopts_a_stricter_server_limit_from_x_ratelimit_limit() -> None:
    fake = FakeYativo(rate_limits=[y.RateLimit(5, 60.0)])
    async with y.YativoClient(access_token=fake.access_token,
                              transport=fake.transport()) as client:
        await client.api_keys.list()  # the first answer says X-RateLimit-Limit: 5
        assert client.rate_limits[0] == y.RateLimit(5, 60.0)  # 60/min configured, 5 learnt
        await asyncio.gather(*(client.api_keys.list() for _ in range(12)))
    assert fake.count("status:429") == 0
    assert fake.count("status:200") == 13


@pytest.mark.looptime
async def test_429_pauses_until_retry_after() -> None:
    answers = [
        y.Response(status=429, headers={"retry-after": "30"}, body=b"{}"),
        y.Response(status=200, body=b'{"keys": []}'),
    ]
    sent: list[float] = []

    def handler(request: y.Request) -> y.Response:
        sent.append(now())
        return answers.pop(0)

    async with y.YativoClient(access_token="t", transport=y.MockTransport(handler)) as client:
        await client.api_keys.list()
    assert sent[1] - sent[0] == pytest.approx(30.0)
    assert client.stats.server_429s == 1


@pytest.mark.looptime
async def test_remaining_zero_pauses_until_reset_epoch() -> None:
    reset_epoch = int(time.time()) + 40
    answers = [
        y.Response(status=200, headers={"x-ratelimit-remaining": "0",
                                        "x-ratelimit-reset": str(reset_epoch)},
                   body=b'{"keys": []}'),
        y.Response(status=200, body=b'{"keys": []}'),
    ]
    sent: list[float] = []

    def handler(request: y.Request) -> y.Response:
        sent.append(now())
        return answers.pop(0)

    async with y.YativoClient(access_token="t", transport=y.MockTransport(handler)) as client:
        await client.api_keys.list()
        await client.api_keys.list()
    assert 35 <= sent[1] - sent[0] <= 41


async def test_ietf_policy_adopted_and_never_loosened() -> None:
    def handler(request: y.Request) -> y.Response:
        return y.Response(status=200, body=b'{"keys": []}', headers={
            "ratelimit-policy": '"burst";q=10;w=60, "daily";q=100000;w=86400, "new";q=7;w=5'})

    async with y.YativoClient(access_token="t", transport=y.MockTransport(handler)) as client:
        await client.api_keys.list()
        limits = set(client.rate_limits)
    assert y.RateLimit(10, 60) in limits  # stricter: adopted
    assert y.RateLimit(50_000, 86_400) in limits  # looser: ignored
    assert y.RateLimit(7, 5) in limits  # a window we did not know


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "120"}, {"retry_after": 120.0}),
        ({"retry-after": "Sun, 09 Sep 2001 01:48:20 GMT"}, {"retry_after": 100.0}),
        ({"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"},
         {"limit": 60, "remaining": 0, "reset_after": 30.0}),
        ({"x-ratelimit-reset": "1000000100"}, {"reset_after": 100.0}),  # epoch seconds
        ({"x-ratelimit-reset": "1000000100000"}, {"reset_after": 100.0}),  # epoch ms
        ({"ratelimit": '"burst";r=50;t=30'}, {"remaining": 50, "reset_after": 30.0}),
        ({"ratelimit": "limit=100, remaining=5, reset=9"},
         {"limit": 100, "remaining": 5, "reset_after": 9.0}),
        ({"ratelimit-policy": "100;w=60"}, {"policies": (y.RateLimit(100, 60),)}),
        ({"retry-after": "soon", "x-ratelimit-remaining": "lots"}, {}),
    ],
)
def test_header_parsing(headers: dict[str, str], expected: dict[str, object]) -> None:
    info = parse_rate_limit_headers(headers, now_epoch=1_000_000_000.0)
    for field in ("retry_after", "limit", "remaining", "reset_after", "policies"):
        default = () if field == "policies" else None
        assert getattr(info, field) == expected.get(field, default), field


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now_epoch=40.0) == 60.0
    assert parse_retry_after("-5", now_epoch=0) is None


async def test_rate_limit_status_and_turning_off() -> None:
    def handler(request: y.Request) -> y.Response:
        return y.Response(status=200, body=json.dumps({"keys": []}).encode())

    async with y.YativoClient(access_token="t", transport=y.MockTransport(handler)) as client:
        await client.api_keys.list()
        minute, hour, day = client.rate_limit_status()
        assert (minute.limit, minute.used, minute.remaining) == (60, 1, 59)
        assert minute.next_free_in == 0.0
        assert day.limit == 50_000
    async with y.YativoClient(access_token="t", transport=y.MockTransport(handler),
                              rate_limits=[]) as client:
        await client.api_keys.list()
        assert client.rate_limit_status() == []


@pytest.mark.looptime
async def test_server_remaining_caps_until_reset() -> None:
    sent: list[float] = []

    def handler(request: y.Request) -> y.Response:
        sent.append(now())
        headers = {"x-ratelimit-remaining": "2", "x-ratelimit-reset": "30"} if len(sent) == 1 \
            else {}
        return y.Response(status=200, headers=headers, body=b'{"keys": []}')

    async with y.YativoClient(access_token="t", transport=y.MockTransport(handler)) as client:
        for _ in range(5):
            await client.api_keys.list()
    assert sent[:3] == [0.0, 0.0, 0.0]  # the first, then the two the server had left
    assert sent[3] == pytest.approx(30.0)  # then nothing before the server's reset
    assert sent[4] == pytest.approx(30.0)


@pytest.mark.looptime
async def test_two_clients_on_one_key_learn_from_remaining() -> None:
    fake = FakeYativo(rate_limits=[y.RateLimit(60, 60.0)])
    limits = [y.RateLimit(60, 60.0)]
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                              rate_limits=limits) as a, \
            y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                           rate_limits=limits) as b:
        for _ in range(50):
            await a.api_keys.list()  # another process spent 50 of the key's 60
        for _ in range(30):
            await b.api_keys.list()  # b thinks it has 60; the server's answers say 10
    assert fake.count("status:429") == 0
    assert fake.count("status:200") == 80


async def test_remaining_not_below_own_view_changes_nothing() -> None:
    def handler(request: y.Request) -> y.Response:
        return y.Response(status=200, body=b'{"keys": []}',
                          headers={"x-ratelimit-remaining": "59", "x-ratelimit-reset": "60"})

    async with y.YativoClient(access_token="t", transport=y.MockTransport(handler)) as client:
        await client.api_keys.list()
        assert client._limiter._cap_left is None  # type: ignore[union-attr]


# The fast path (rule 8) against a model of the windows ---------------------------------

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.sampled_from(["interactive", "batch"])),
        st.tuples(st.just("release"), st.booleans()),
        st.tuples(st.just("advance"), st.sampled_from([0.1, 0.5, 1.0, 3.0])),
        st.tuples(st.just("adopt"), st.integers(min_value=1, max_value=6)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops=_OPS)
def test_fast_path_grants_exactly_what_the_windows_allow(
        ops: list[tuple[str, object]]) -> None:
    """Whatever mix of takes, sent and unsent releases, passing time and stricter limits:
    a take is granted exactly when every window (counted the slow way, here) has a slot,
    batch calls leave the reserve, and no window ever holds more than its limit."""
    loop = asyncio.new_event_loop()
    clock = [1000.0]
    loop.time = lambda: clock[0]  # type: ignore[method-assign]
    limits = {1.0: 5, 2.0: 8}
    stamps: dict[float, list[float]] = {p: [] for p in limits}

    async def run() -> None:
        limiter = SlidingWindowLimiter([y.RateLimit(n, p) for p, n in limits.items()],
                                       max_wait=0, interactive_reserve=0.25)
        held: list[y.Slot] = []
        for op, arg in ops:
            t = clock[0]
            used = {p: len(held) + sum(1 for s in stamps[p] if s + p > t) for p in limits}
            if op == "take":
                reserve = {p: reserved_slots(n, 0.25) if arg == "batch" else 0
                           for p, n in limits.items()}
                allowed = all(used[p] + 1 + reserve[p] <= n for p, n in limits.items())
                try:
                    held.append(await limiter.acquire(lane=arg))  # type: ignore[arg-type]
                    granted = True
                except y.RateLimitError:
                    granted = False
                assert granted == allowed, (op, arg, used, limits)
            elif op == "release" and held:
                held.pop(0).release(sent=bool(arg))
                if arg:
                    for p in limits:
                        stamps[p].append(t)
            elif op == "advance":
                clock[0] += float(arg)  # type: ignore[arg-type]
            elif op == "adopt":
                limiter.adopt([y.RateLimit(int(arg), 1.0)])  # type: ignore[call-overload]
                limits[1.0] = min(limits[1.0], int(arg))  # type: ignore[call-overload]
            for p, n in limits.items():
                in_window = len(held) + sum(1 for s in stamps[p] if s + p > clock[0])
                assert in_window <= max(n, used[p]), (p, in_window, n)

    try:
        loop.run_until_complete(run())
    finally:
        loop.close()


@pytest.mark.looptime
async def test_try_acquire_only_when_surely_free_and_nobody_ahead() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(2, 10.0)])
    first = limiter.try_acquire()
    assert first is not None
    second = await limiter.acquire()
    assert limiter.try_acquire() is None  # no budget: the caller must await acquire()
    queued = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    first.release(sent=False)  # a slot frees, and the waiter ahead takes it
    await asyncio.sleep(0)
    assert queued.done()
    assert limiter.try_acquire() is None
    (await queued).release(sent=False)
    second.release(sent=False)
    limiter.pause_until(now() + 5.0)  # the server said stop: only acquire() may decide
    assert limiter.try_acquire() is None
    await asyncio.sleep(5.0)
    slot = await limiter.acquire()
    assert limiter.try_acquire() is not None
    slot.release()


async def test_a_window_adopted_while_requests_are_in_flight_counts_them() -> None:
    # Three requests in flight when the server announces an hourly window of 5: each is
    # stamped in it on release, so 2 are left (not 5, nor 8 from a negative in-flight count).
    limiter = SlidingWindowLimiter([y.RateLimit(10, 1.0)], max_wait=0)
    slots = [await limiter.acquire() for _ in range(3)]
    limiter.adopt([y.RateLimit(5, 3600.0)])
    second, hourly = limiter.status()
    assert (hourly.in_flight, hourly.used, hourly.remaining) == (3, 3, 2)
    for slot in slots:
        slot.release()
    second, hourly = limiter.status()
    assert (hourly.in_flight, hourly.used, hourly.remaining) == (0, 3, 2)
    assert second.in_flight == 0
    for _ in range(2):
        (await limiter.acquire()).release()
    with pytest.raises(y.RateLimitError):
        await limiter.acquire()


@pytest.mark.looptime
async def test_a_window_adopted_after_requests_were_sent_counts_them() -> None:
    # Two requests sent (at t0 and t0 + 2) when the server announces 3 per 5 s: the new
    # window starts with them, so one is left now, not three (which would earn a 429).
    limiter = SlidingWindowLimiter([y.RateLimit(100, 60.0)], max_wait=0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    (await limiter.acquire()).release()
    await asyncio.sleep(2)
    (await limiter.acquire()).release()
    await asyncio.sleep(1)  # t0 + 3
    limiter.adopt([y.RateLimit(3, 5.0)])
    _, new = limiter.status()
    assert (new.used, new.remaining) == (2, 1)
    (await limiter.acquire()).release()
    with pytest.raises(y.RateLimitError):
        await limiter.acquire()  # 3 in the last 5 s
    await asyncio.sleep(t0 + 5 - loop.time())  # the first one leaves the new window
    (await limiter.acquire()).release()


def test_a_server_naming_ever_new_windows_cannot_grow_the_limiter() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(100, 60.0)])
    # looser than one held already (as long or longer, as strict): nothing to keep
    limiter.adopt([y.RateLimit(10**6, 1.0 + i / 1000) for i in range(300)])
    assert limiter.limits == (y.RateLimit(100, 60.0),)
    # each one stricter somewhere: at most 16 kept
    limiter.adopt([y.RateLimit(2 + i, 1.0 + i / 10) for i in range(300)])
    assert len(limiter.limits) == 16
    # a stricter one after that is not dropped: the nearest longer window keeps to it
    limiter.adopt([y.RateLimit(1, 1.05)])
    nearest = min((rl for rl in limiter.limits if rl.period >= 1.05), key=lambda rl: rl.period)
    assert nearest.limit == 1


def test_a_stricter_unnamed_limit_counts_what_was_already_used() -> None:
    # One request already sent; the server then says "limit 1" (no window named): the
    # next take must wait, even though the limiter had counted 99 slots as surely free.
    limiter = SlidingWindowLimiter([y.RateLimit(100, 60.0)])
    slot = limiter.try_acquire()
    assert slot is not None
    slot.release()
    limiter.adopt_unknown_period(1)
    assert limiter.try_acquire() is None


@pytest.mark.looptime
async def test_slots_seeded_from_elsewhere_are_counted_before_the_next_take() -> None:
    # The Redis limiter hands its recent slots to its outage fallback: two used slots of a
    # window of 2 leave none, though the fresh limiter had counted 2 as surely free.
    limiter = SlidingWindowLimiter([y.RateLimit(2, 60.0)], max_wait=0)
    now = asyncio.get_running_loop().time()
    limiter.seed([[now + 30.0, now + 40.0]])  # free at t+30 and t+40
    assert limiter.try_acquire() is None
    with pytest.raises(y.RateLimitError) as info:
        await limiter.acquire()
    assert info.value.retry_after == pytest.approx(30.0)


@pytest.mark.looptime
async def test_status_says_when_the_next_slot_frees() -> None:
    limiter = SlidingWindowLimiter([y.RateLimit(2, 60.0)], max_wait=0)
    (window,) = limiter.status()
    assert (window.remaining, window.next_free_in) == (2, 0.0)  # free now
    (await limiter.acquire()).release()
    await asyncio.sleep(10)
    (await limiter.acquire()).release()
    await asyncio.sleep(5)  # t = 15: both used, the first frees at t = 60
    (window,) = limiter.status()
    assert window.remaining == 0 and window.used == 2
    assert window.next_free_in == pytest.approx(45.0)
    limiter2 = SlidingWindowLimiter([y.RateLimit(1, 60.0)])
    slot = limiter2.try_acquire()
    assert slot is not None
    (window,) = limiter2.status()
    assert window.next_free_in is None  # in flight: frees only when its response is back
    slot.release()


@pytest.mark.looptime
async def test_requests_cancelled_on_their_way_still_count_where_the_server_sees_them() -> None:
    # A congested moment, 200 ms from the client to the server: ten requests cancelled 50 ms
    # after they left (request handlers whose clients went away) still arrive. Stamped at
    # the cancel, their slots freed early, and once the network was quick again the next
    # ten landed in the same server window: 20 in 1 s, ten 429s.
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    latency = [0.0]

    async def server(request: y.Request) -> y.Response:
        delay = latency[0]
        loop.call_later(delay, lambda: arrivals.append(loop.time()))  # on the wire regardless
        await asyncio.sleep(2 * delay)
        return y.Response(status=200, body=b'{"keys": []}')

    async with y.YativoClient(access_token="t" * 10, transport=y.MockTransport(server),
                              rate_limits=[y.RateLimit(10, 1.0)]) as client:
        await client.api_keys.list()
        await asyncio.sleep(1.1)
        latency[0] = 0.2
        handlers = [asyncio.ensure_future(client.api_keys.list()) for _ in range(10)]
        await asyncio.sleep(0.05)
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        latency[0] = 0.0
        await asyncio.gather(*(client.api_keys.list() for _ in range(10)))
    assert len(arrivals) == 21
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 10


@pytest.mark.looptime
async def test_closing_stamps_the_slots_held_after_a_cancel_at_once() -> None:
    # A call cancelled by the close keeps no slot in flight after it: the limiter (a
    # Redis one, for the whole fleet) would otherwise hold it for its lease and period.
    async def slow(request: y.Request) -> y.Response:
        await asyncio.sleep(10)
        return y.Response(status=200, body=b'{"keys": []}')

    client = y.YativoClient(access_token="t" * 10, transport=y.MockTransport(slow),
                            rate_limits=[y.RateLimit(5, 60.0)])
    handler = asyncio.ensure_future(client.api_keys.list())
    await asyncio.sleep(1)
    handler.cancel()  # held a while: it may still reach the server
    with pytest.raises(asyncio.CancelledError):
        await handler
    assert client.rate_limit_status()[0].in_flight == 1
    await client.aclose()
    (status,) = client.rate_limit_status()
    assert (status.in_flight, status.used) == (0, 1)
