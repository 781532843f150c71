"""Many processes, one key, through a real redis-server (real time: Redis's clock rules)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

import yativo_async as y
from yativo_async._redis import _decrypt
from yativo_async.testing import FakeYativo

from .test_auth import TokenServer


async def test_processes_share_the_budget_exactly(redis_url: str) -> None:
    limits = [y.RateLimit(5, 0.5)]
    fake = FakeYativo(rate_limits=limits, seed=5)
    fake.set_faults(latency=0.002, jitter=0.01)  # requests are in flight for a while
    clients = [
        y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                       rate_limits=limits, redis=redis_url)
        for _ in range(3)  # three "processes": nothing shared but Redis
    ]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.gather(*(c.api_keys.list() for c in clients for _ in range(10)))
    elapsed = loop.time() - t0
    for c in clients:
        await c.aclose()
    assert fake.count("status:429") == 0
    assert fake.count("status:200") == 30
    assert elapsed >= 2.5  # 30 requests at 5 per 0.5 s: six windows


async def test_one_token_exchange_for_the_fleet(redis_url: str) -> None:
    fake = FakeYativo(rate_limits=[])
    key = fake.add_key()
    fake.set_faults("token", latency=0.05)
    clients = [
        y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                       transport=fake.transport(), rate_limits=[], redis=redis_url)
        for _ in range(4)
    ]
    await asyncio.gather(*(c.api_keys.list() for c in clients for _ in range(25)))
    assert fake.token_exchanges == 1
    assert sum(c.stats.token_exchanges for c in clients) == 1
    assert sum(c.stats.tokens.shared for c in clients) == 3
    for c in clients:
        await c.aclose()


async def test_token_at_rest_is_encrypted_under_the_secret(redis_url: str) -> None:
    fake = FakeYativo(rate_limits=[])
    key = fake.add_key()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), rate_limits=[],
                              redis=redis_url) as client:
        await client.api_keys.list()
        token = client.token_provider.current  # type: ignore[union-attr]
        assert token is not None
    r = aioredis.from_url(redis_url)
    try:
        raw_values = [await r.get(k) for k in await r.keys("yativo:tok:*") if b"lock" not in k]
    finally:
        await r.aclose()
    secret_token = token.value.get_secret_value()
    assert raw_values
    assert all(secret_token.encode() not in (v or b"") for v in raw_values)
    assert all(key.api_key.encode() not in k for k in raw_values)
    readable = [_decrypt(v, key.api_key, y.Secret(key.api_secret)) for v in raw_values]
    assert any(rec and rec["t"] == secret_token for rec in readable)
    # someone with Redis but not the secret reads nothing
    assert all(_decrypt(v, key.api_key, y.Secret("wrong")) is None for v in raw_values)


async def test_a_refused_token_is_not_handed_back_by_the_cache(redis_url: str) -> None:
    server = TokenServer()
    server.api_delay = 0.01
    kw = {"transport": y.MockTransport(server), "rate_limits": [], "redis": redis_url,
          "retry": y.RetryPolicy.none()}
    a = y.YativoClient(api_key="yvk_live_refused", api_secret="right", **kw)  # type: ignore[arg-type]
    b = y.YativoClient(api_key="yvk_live_refused", api_secret="right", **kw)  # type: ignore[arg-type]
    await a.api_keys.list()
    await b.api_keys.list()  # b took a's token from the cache
    assert server.exchanges == 1
    server.valid.clear()  # the server revokes it
    assert await a.api_keys.list() == []  # 401 -> a new token, not the cached old one
    assert await b.api_keys.list() == []  # 401 -> b takes a's new token from the cache
    assert server.exchanges == 2
    await a.aclose()
    await b.aclose()


async def test_a_crashed_holder_frees_its_slot_after_the_lease(redis_url: str) -> None:
    limits = [y.RateLimit(1, 0.2)]
    crashed = y.RedisRateLimiter(redis_url, "crash", limits, lease=0.3)
    other = y.RedisRateLimiter(redis_url, "crash", limits, lease=0.3)
    await crashed.acquire()  # never released: its process "died"...
    assert crashed._keeper is not None
    crashed._keeper.cancel()  # ...so nothing renews the lease either
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    slot = await other.acquire()
    assert loop.time() - t0 >= 0.4  # lease + period
    slot.release()
    await crashed.aclose()
    await other.aclose()


async def test_a_429_pause_holds_the_whole_fleet(redis_url: str) -> None:
    limits = [y.RateLimit(100, 1.0)]
    a = y.RedisRateLimiter(redis_url, "pause", limits)
    b = y.RedisRateLimiter(redis_url, "pause", limits)
    loop = asyncio.get_running_loop()
    a.pause_until(loop.time() + 0.5)
    await a.aclose()  # flushes the pause to Redis
    t0 = loop.time()
    (await b.acquire()).release()
    assert loop.time() - t0 >= 0.4
    await b.aclose()


async def test_max_wait_fails_fast_with_retry_after(redis_url: str) -> None:
    limits = [y.RateLimit(1, 5.0)]
    a = y.RedisRateLimiter(redis_url, "maxwait", limits)
    b = y.RedisRateLimiter(redis_url, "maxwait", limits, max_wait=0.1)
    (await a.acquire()).release()
    await a.aclose()
    asks = 0
    real = b._acquire_script

    async def counted(**kw: object) -> object:
        nonlocal asks
        asks += 1
        return await real(**kw)

    b._acquire_script = counted  # type: ignore[method-assign,assignment]
    with pytest.raises(y.RateLimitError) as info:
        await b.acquire()
    # Failed on Redis's first answer (the slot is 5 s away, past max_wait): no wait, no poll.
    assert asks == 1
    b._acquire_script = real  # type: ignore[method-assign]
    assert info.value.retry_after == pytest.approx(5.0, abs=0.2)
    status = await b.status_async()
    assert status[0].used == 1
    await b.aclose()


async def test_max_wait_zero_takes_free_budget_and_refuses_the_rest(redis_url: str) -> None:
    # A web app's "never wait": a free slot is taken at once (every call was refused: the
    # wait for this process's turn gave up before asking), none is waited for.
    limits = [y.RateLimit(2, 30.0)]
    fake = FakeYativo(rate_limits=limits, access_token="yat_user_max_wait_zero")  # own budget
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                              rate_limits=limits, redis=redis_url, max_wait=0) as client:
        await client.api_keys.list()
        await client.api_keys.list()
        with pytest.raises(y.RateLimitError) as info:
            await client.api_keys.list()
    assert info.value.retry_after is not None and info.value.retry_after > 25
    assert fake.count("status:200") == 2 and fake.count("status:429") == 0


async def test_a_window_adopted_for_a_new_period_counts_the_fleets_requests(
    redis_url: str,
) -> None:
    # Two processes have sent one request each when the server announces 3 per 30 s to A:
    # A's new window starts with both (not empty, which would let 3 more through and earn
    # the announced 429), and counts B's later requests though B never heard of the window.
    limits = [y.RateLimit(100, 60.0)]
    a = y.RedisRateLimiter(redis_url, "adopted", limits, max_wait=0)
    b = y.RedisRateLimiter(redis_url, "adopted", limits, max_wait=0)
    (await a.acquire()).release()
    (await b.acquire()).release()
    a.adopt([y.RateLimit(3, 30.0)])
    assert a.limits == (y.RateLimit(100, 60.0), y.RateLimit(3, 30.0))
    hourly, new = await a.status_async()
    assert (hourly.used, new.used, new.remaining) == (2, 2, 1)
    slot = await b.acquire()  # B's third request, still in flight
    with pytest.raises(y.RateLimitError) as info:
        await a.acquire()
    assert info.value.retry_after is not None and info.value.retry_after > 25
    slot.release()
    await b.aclose()
    _, new = await a.status_async()
    assert (new.used, new.in_flight) == (3, 0)
    await a.aclose()


# Real processes: tests/test_fleet.py.


async def test_cancelled_while_redis_grants_gives_the_slot_back(redis_url: str) -> None:
    limits = [y.RateLimit(1, 10.0)]
    limiter = y.RedisRateLimiter(redis_url, "cancel-grant", limits)
    real = limiter._acquire_script

    async def granted_then_cancelled(**kw: object) -> object:
        await real(**kw)  # Redis took the slot...
        raise asyncio.CancelledError  # ...and the caller was cancelled before hearing so

    limiter._acquire_script = granted_then_cancelled  # type: ignore[method-assign,assignment]
    with pytest.raises(asyncio.CancelledError):
        await limiter.acquire()
    limiter._acquire_script = real  # type: ignore[method-assign]
    await asyncio.gather(*limiter._pending)  # the give-back is written in the background
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    (await asyncio.wait_for(limiter.acquire(), 2.0)).release()  # not held for the lease
    assert loop.time() - t0 < 1.0
    await limiter.aclose()


async def test_max_wait_zero_calls_at_once_all_find_free_budget(redis_url: str) -> None:
    # Ten concurrent calls, 60 a minute free: one held this process's turn for its round
    # trip and the nine others were refused as if the budget were spent.
    limiter = y.RedisRateLimiter(redis_url, "mw0-concurrent", [y.RateLimit(60, 60.0)],
                                 max_wait=0)
    slots = await asyncio.gather(*(limiter.acquire() for _ in range(10)))
    for slot in slots:
        slot.release()
    await limiter.aclose()


async def test_a_window_adopted_after_a_longer_adopted_one_reads_a_configured_window(
    redis_url: str,
) -> None:
    # The longest window held was itself adopted (its record only starts then): read from
    # it, a new 30 s window started empty. It reads the longest configured window.
    limiter = y.RedisRateLimiter(redis_url, "derived-base", [y.RateLimit(100, 60.0)],
                                 max_wait=0)
    for _ in range(5):
        (await limiter.acquire()).release()
    limiter.adopt([y.RateLimit(1000, 3600.0), y.RateLimit(5, 30.0)])
    with pytest.raises(y.RateLimitError):
        await limiter.acquire()
    await limiter.aclose()


async def test_renaming_with_a_slot_out_puts_nothing_into_the_new_budget(redis_url: str) -> None:
    # A client moved to another key with a call in flight: its keeper found the new
    # budget's epoch, "re-seeded" the old slot into it and paused its whole fleet.
    import redis.asyncio as aioredis

    limits = [y.RateLimit(100, 60.0)]
    other = y.RedisRateLimiter(redis_url, "renamed-new", limits, max_wait=0)
    (await other.acquire()).release()
    moving = y.RedisRateLimiter(redis_url, "renamed-old", limits, grace=2.0, lease=3.0)
    held = await moving.acquire()
    moving.rename("renamed-new")
    await asyncio.sleep(1.2)  # one keeper tick
    held.release()
    assert moving.stats.reseeds == 0
    r = aioredis.from_url(redis_url)
    try:
        assert await r.get("yativo:rl:{renamed-new}:grace") is None
    finally:
        await r.aclose()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    (await other.acquire()).release()  # max_wait=0: no pause in the way
    assert loop.time() - t0 < 0.5
    await moving.aclose()
    await other.aclose()


def test_a_replica_answering_readonly_in_a_failover_counts_as_unreachable() -> None:
    from redis.exceptions import MasterDownError, ReadOnlyError, TryAgainError

    from yativo_async._redis import _unreachable

    assert all(_unreachable(e) for e in (ReadOnlyError("READONLY"), MasterDownError("x"),
                                         TryAgainError("x")))
