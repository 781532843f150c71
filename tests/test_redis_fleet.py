"""The fleet on a real redis-server: lanes across processes, outages, restarts and flushes,
leases (rules 6-10 of _redis.py). Real time: Redis's clock rules."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

import yativo_async as y
from yativo_async._ratelimit import Lane
from yativo_async._redis import RedisRateLimiter
from yativo_async.testing import FakeYativo


class RedisProcess:
    """A redis-server of this test's own (no persistence), which it may kill and restart
    on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.01)
        pytest.fail("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    server = RedisProcess()
    server.start()
    try:
        yield server
    finally:
        server.kill()


def now() -> float:
    return asyncio.get_running_loop().time()


# -- lanes across processes ----------------------------------------------------------------


async def _saturate(limiter: RedisRateLimiter, calls: int) -> asyncio.Task[None]:
    async def one() -> None:
        (await limiter.acquire(lane="batch")).release()

    async def job() -> None:
        await asyncio.gather(*(one() for _ in range(calls)))

    return asyncio.get_running_loop().create_task(job())


@pytest.mark.parametrize("reserve", [0.2, 0.0])
async def test_interactive_in_one_process_goes_before_batch_in_another(
    redis_url: str, reserve: float
) -> None:
    name = f"lanes-{reserve}"
    limits = [y.RateLimit(10, 0.5)]
    batch = RedisRateLimiter(redis_url, name, limits, interactive_reserve=reserve, poll=0.02)
    web = RedisRateLimiter(redis_url, name, limits, interactive_reserve=reserve, poll=0.02)
    job = await _saturate(batch, 1_000)  # 50 s of work at this limit
    # Redis's state is polled (no event to wait on there): the batch job at full demand
    while batch.waiting > 990 or (await web.status_async())[0].used < 8:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    asks = 0
    real = web._acquire_script

    async def counted(**kw: object) -> object:
        nonlocal asks
        asks += 1
        return await real(**kw)

    web._acquire_script = counted  # type: ignore[method-assign,assignment]
    t0 = now()
    slot = await web.acquire()
    waited = now() - t0
    slot.release()
    if reserve:
        assert asks == 1  # the reserve is there: granted on Redis's first answer
    else:
        # The next slot to free in the window (0.5 s at most), not 50 s behind the batch;
        # the bound is far from both, so a loaded machine does not make it flaky.
        assert waited < 5.0
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    await batch.aclose()
    await web.aclose()


async def _until(condition: Callable[[], bool], deadline: float = 10.0) -> None:
    """Poll a state that has no event to wait on, bounded (a failure, never a hang)."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "the state was never reached"
        await asyncio.sleep(0.005)


async def _until_async(probe: Callable[[], Awaitable[int]], deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not await probe():
        assert time.monotonic() < end, "the state was never reached"
        await asyncio.sleep(0.005)


async def test_a_waiting_interactive_call_holds_back_batch_in_other_processes(
    redis_url: str,
) -> None:
    limits = [y.RateLimit(1, 0.2)]
    holder = RedisRateLimiter(redis_url, "mark", limits)
    batch = RedisRateLimiter(redis_url, "mark", limits, poll=0.01)  # looks every 10 ms
    web = RedisRateLimiter(redis_url, "mark", limits, poll=0.3)  # looks every 300 ms
    order: list[str] = []

    async def take(limiter: RedisRateLimiter, lane: Lane, name: str) -> None:
        slot = await limiter.acquire(lane=lane)
        order.append(name)
        slot.release(sent=False)

    held = await holder.acquire()
    first = asyncio.create_task(take(batch, "batch", "batch"))  # asks first
    await _until(lambda: batch.waiting == 1)
    second = asyncio.create_task(take(web, "interactive", "web"))  # asks later, looks less
    # Wait for the web call's mark to be in Redis (a state, not a guessed delay).
    marks = aioredis.from_url(redis_url)
    await _until_async(lambda: marks.zcard(f"{web._prefix}:iwait"))
    await marks.aclose()
    held.release(sent=False)  # the slot is free now; batch looks first...
    await asyncio.gather(first, second)
    assert order == ["web", "batch"]  # ...but the waiting web call in another process wins
    for limiter in (holder, batch, web):
        await limiter.aclose()


async def test_batch_through_redis_keeps_out_of_the_reserve(redis_url: str) -> None:
    limits = [y.RateLimit(10, 5.0)]
    batch = RedisRateLimiter(redis_url, "reserve-cap", limits, interactive_reserve=0.3,
                             max_wait=0.05)
    for _ in range(7):
        (await batch.acquire(lane="batch")).release()
    with pytest.raises(y.RateLimitError):
        await batch.acquire(lane="batch")  # 3 of 10 are the interactive lane's
    for _ in range(3):
        (await batch.acquire(lane="interactive")).release()
    assert (await batch.status_async())[0].used == 10
    await batch.aclose()


# -- outage --------------------------------------------------------------------------------


async def test_redis_down_fails_fast_with_the_documented_error_and_recovers(
    own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeYativo(rate_limits=[])
    client = y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                            rate_limits=[y.RateLimit(100, 1.0)], redis=own_redis.url)
    await client.api_keys.list()
    sent = fake.count("status:200")
    own_redis.kill()
    caplog.set_level(logging.WARNING, "yativo_async")
    for _ in range(3):
        with pytest.raises(y.RedisUnavailableError, match="Redis") as info:
            await client.api_keys.list()
        assert isinstance(info.value, y.YativoError)
    assert fake.count("status:200") == sent  # nothing was sent
    assert client.stats.fleet.redis_outages == 1
    assert client.stats.as_dict()["redis_outages"] == 1
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1  # logged once
    own_redis.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:  # used again by itself, within its retry interval
        try:
            await client.api_keys.list()
            break
        except y.RedisUnavailableError:
            assert loop.time() < deadline
            await asyncio.sleep(0.1)
    assert fake.count("status:200") == sent + 1
    await client.aclose()


async def test_redis_down_with_local_fallback_keeps_going_at_its_share(
    own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    limits = [y.RateLimit(20, 1.0)]
    fake = FakeYativo(rate_limits=limits)
    client = y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                            rate_limits=limits, redis=own_redis.url,
                            redis_fallback="local", local_share=0.25)
    await client.api_keys.list()
    own_redis.kill()
    caplog.set_level(logging.WARNING, "yativo_async")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.gather(*(client.api_keys.list() for _ in range(10)))
    elapsed = loop.time() - t0
    # 5 per second (a quarter of 20): 10 calls span at least one full window
    assert elapsed >= 1.0
    assert client.stats.fleet.fallback_slots == 10
    assert client.stats.fleet.redis_outages == 1
    assert fake.count("status:429") == 0
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1
    own_redis.start()
    deadline = loop.time() + 5
    while client.stats.fleet.fallback_slots >= 10 and not client._limiter.redis_available:  # type: ignore[attr-defined]
        before = client.stats.fleet.fallback_slots
        await client.api_keys.list()
        if client.stats.fleet.fallback_slots == before:
            break  # this one went through Redis
        assert loop.time() < deadline
        await asyncio.sleep(0.2)
    r = aioredis.from_url(own_redis.url)
    try:
        assert await r.keys("yativo:rl:*")  # Redis holds the budget again
    finally:
        await r.aclose()
    await client.aclose()


async def test_a_window_adopted_before_an_outage_carries_its_requests_to_the_fallback(
    own_redis: RedisProcess,
) -> None:
    # Two requests sent, then the server announces 3 per 30 s (a window read from the
    # longest one in Redis), then Redis dies: the in-process fallback starts that window
    # with the two requests, so one more goes and the next is refused.
    limiter = RedisRateLimiter(own_redis.url, "adopt-outage", [y.RateLimit(100, 60.0)],
                               max_wait=0, fallback="local", local_share=1.0)
    for _ in range(2):
        (await limiter.acquire()).release()
    await asyncio.gather(*list(limiter._pending))  # both stamped in Redis
    limiter.adopt([y.RateLimit(3, 30.0)])
    own_redis.kill()
    (await limiter.acquire()).release()
    assert limiter.stats.fallback_slots == 1
    with pytest.raises(y.RateLimitError) as info:
        await limiter.acquire()
    assert info.value.retry_after is not None and info.value.retry_after > 25
    await limiter.aclose()


@pytest.mark.parametrize("fallback", ["fail", "local"])
async def test_token_cache_with_redis_down(own_redis: RedisProcess, fallback: str) -> None:
    fake = FakeYativo(rate_limits=[])
    key = fake.add_key()
    extra = {"redis_fallback": "local", "local_share": 0.5} if fallback == "local" else {}
    client = y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                            transport=fake.transport(), rate_limits=[y.RateLimit(100, 1.0)],
                            redis=own_redis.url, **extra)  # type: ignore[arg-type]
    own_redis.kill()
    if fallback == "fail":
        with pytest.raises(y.RedisUnavailableError, match="Redis"):
            await client.api_keys.list()
        assert fake.token_exchanges == 0  # nothing sent
    else:
        assert await client.api_keys.list()  # exchanged without the cache, limited locally
        assert fake.token_exchanges == 1
        assert client.stats.fleet.fallback_slots == 2
    await client.aclose()


@pytest.mark.parametrize("fallback", ["fail", "local"])
async def test_redis_killed_mid_run_no_raw_exception_no_429(
    own_redis: RedisProcess, fallback: str
) -> None:
    limits = [y.RateLimit(20, 0.5)]
    fake = FakeYativo(rate_limits=limits)
    fake.set_faults(latency=0.2, jitter=0.005)
    extra = {"redis_fallback": "local", "local_share": 0.5} if fallback == "local" else {}
    client = y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                            rate_limits=limits, redis=own_redis.url,
                            **extra)  # type: ignore[arg-type]

    async def kill_soon() -> None:
        await asyncio.sleep(0.1)  # 20 calls are in flight, 40 are queued
        await asyncio.to_thread(own_redis.kill)

    results = await asyncio.gather(*(client.api_keys.list() for _ in range(60)), kill_soon(),
                                   return_exceptions=True)
    errors = [r for r in results[:60] if isinstance(r, BaseException)]
    assert fake.count("status:429") == 0
    if fallback == "fail":
        assert errors
        assert all(isinstance(e, y.RedisUnavailableError) for e in errors), errors
        assert fake.count("status:200") == 60 - len(errors)
    else:
        assert errors == []  # went on locally, at half the budget
        assert client.stats.fleet.fallback_slots > 0
    await client.aclose()


def test_local_fallback_needs_its_share() -> None:
    with pytest.raises(ValueError, match="local_share"):
        y.YativoClient(access_token="t", redis_fallback="local")
    with pytest.raises(ValueError, match="local_share"):
        y.YativoClient(access_token="t", redis_fallback="local", local_share=1.5)
    with pytest.raises(ValueError, match="redis_fallback"):
        y.YativoClient(access_token="t", redis_fallback="ignore")  # type: ignore[arg-type]


def test_redis_urls_are_checked() -> None:
    with pytest.raises(ValueError, match="redis URL"):
        y.YativoClient(access_token="t", redis="http://127.0.0.1:6379")
    for url in ("rediss://127.0.0.1:1/0", "unix:///tmp/nothing.sock",
                "redis+cluster://127.0.0.1:1"):
        y.YativoClient(access_token="t", redis=url)  # accepted (connects lazily)


@pytest.fixture
def unix_redis() -> Iterator[str]:
    import os
    import tempfile

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    sock = f"{tempfile.mkdtemp(prefix='yv')}/r.sock"  # short: a socket path has ~100 bytes
    proc = subprocess.Popen([binary, "--port", "0", "--unixsocket", sock, "--save", "",
                             "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.01)
        yield f"unix://{sock}"
    finally:
        proc.kill()
        proc.wait(10)


async def test_unix_socket_url(unix_redis: str) -> None:
    limiter = RedisRateLimiter(unix_redis, "unix", [y.RateLimit(2, 1.0)])
    (await limiter.acquire()).release()
    assert (await limiter.status_async())[0].used == 1
    await limiter.aclose()


# -- restart and flush ---------------------------------------------------------------------


async def _burst_after_loss(url: str, lose: object, name: str) -> list[float]:
    """Two processes use a 10-per-second budget to the full, then Redis loses everything;
    returns every grant's Redis-side time (the start times as the server would see them)."""
    limits = [y.RateLimit(10, 1.0)]
    a = RedisRateLimiter(url, name, limits, grace=0.3, poll=0.02)
    b = RedisRateLimiter(url, name, limits, grace=0.3, poll=0.02)
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def call(limiter: RedisRateLimiter) -> None:
        slot = await limiter.acquire()
        starts.append(loop.time())
        await asyncio.sleep(0.01)
        slot.release()

    await asyncio.gather(*(call(x) for x in (a, b) for _ in range(5)))
    await asyncio.sleep(0.05)  # the releases are stamped
    await lose()  # type: ignore[operator]
    await asyncio.gather(*(call(x) for x in (a, b) for _ in range(10)))
    await a.aclose()
    await b.aclose()
    return starts


def _max_in_any_window(starts: list[float], period: float) -> int:
    starts = sorted(starts)
    best = 0
    j = 0
    for i, t in enumerate(starts):
        while starts[j] <= t - period:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_flushall_costs_a_pause_never_a_burst(redis_url: str) -> None:
    async def flush() -> None:
        r = aioredis.from_url(redis_url)
        await r.flushall()
        await r.aclose()

    starts = await _burst_after_loss(redis_url, flush, "flush")
    assert len(starts) == 30
    # 10 per second as the server sees them: a response can come back up to 10 ms after
    # its start, so allow for that (the server counts arrivals)
    assert _max_in_any_window(starts, 1.0 - 0.02) <= 10


async def test_restart_without_persistence_costs_a_pause_never_a_burst(
    own_redis: RedisProcess,
) -> None:
    async def restart() -> None:
        own_redis.kill()
        own_redis.start()

    starts = await _burst_after_loss(own_redis.url, restart, "restart")
    assert len(starts) == 30
    assert _max_in_any_window(starts, 1.0 - 0.02) <= 10


async def test_without_reseed_the_flush_would_burst(redis_url: str) -> None:
    """The same run with a limiter that never re-seeds: the check above can fail."""

    async def flush() -> None:
        r = aioredis.from_url(redis_url)
        await r.flushall()
        await r.aclose()

    original = RedisRateLimiter._reseed

    async def forget(self: RedisRateLimiter) -> None:
        self._history = [type(h)() for h in self._history]
        self._held.clear()
        await original(self)

    RedisRateLimiter._reseed = forget  # type: ignore[method-assign]
    try:
        starts = await _burst_after_loss(redis_url, flush, "noreseed")
    finally:
        RedisRateLimiter._reseed = original  # type: ignore[method-assign]
    assert _max_in_any_window(starts, 1.0 - 0.02) > 10


# -- leases --------------------------------------------------------------------------------


async def test_a_slot_in_flight_past_its_lease_is_renewed(redis_url: str) -> None:
    limits = [y.RateLimit(1, 0.2)]
    slow = RedisRateLimiter(redis_url, "renew", limits, lease=0.3, grace=0.2)
    other = RedisRateLimiter(redis_url, "renew", limits, lease=0.3, max_wait=0.0)
    slot = await slow.acquire()
    await asyncio.sleep(1.0)  # a call legitimately running past lease + period
    with pytest.raises(y.RateLimitError):
        await other.acquire()  # still counted: its lease was renewed
    slot.release()
    await slow.aclose()
    await other.aclose()


def test_the_client_lease_follows_the_request_timeout() -> None:
    client = y.YativoClient(access_token="t", redis="redis://127.0.0.1:1/0", timeout=7.0)
    assert client._limiter._lease == 7.0 + y._redis.LEASE_MARGIN  # type: ignore[attr-defined]


# -- a Redis that hangs, refuses, or goes while the token is exchanged ---------------------


async def test_a_hung_redis_fails_each_call_in_one_timeout_and_close_is_quick(
    own_redis: RedisProcess,
) -> None:
    # SIGSTOP: connections open, nothing answers. Calls failed one per 10 s (each queued
    # call asked Redis again, twice), max_wait was ignored and aclose() took 10 s.
    import os
    import signal

    limits = [y.RateLimit(100, 1.0)]
    fake = FakeYativo(rate_limits=limits)
    client = y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                            rate_limits=limits, redis=own_redis.url)
    await client.api_keys.list()  # a pooled connection to Redis; then Redis hangs
    await client.api_keys.list()
    assert own_redis.proc is not None
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        results = await asyncio.gather(*(client.api_keys.list() for _ in range(3)),
                                       return_exceptions=True)
        elapsed = loop.time() - t0
        assert all(isinstance(r, y.RedisUnavailableError) for r in results), results
        assert elapsed < 4.0  # one read timeout (2 s) for all three, not 10 s each
        t0 = loop.time()
        await client.aclose()
        assert loop.time() - t0 < 3.0
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
    assert fake.count("status:200") == 2


async def test_data_redis_refuses_is_a_yativo_error_not_a_raw_redis_one(redis_url: str) -> None:
    limits = [y.RateLimit(100, 1.0)]
    limiter = RedisRateLimiter(redis_url, "tampered", limits)
    r = aioredis.from_url(redis_url)
    try:
        await r.hset("yativo:rl:{tampered}:w1000", "x", "y")  # a window of the wrong type
        with pytest.raises(y.RedisUnavailableError, match=r"refused.*WRONGTYPE"):
            await limiter.acquire()
    finally:
        await r.delete("yativo:rl:{tampered}:w1000")
        await r.aclose()
        await limiter.aclose()


async def test_a_token_key_of_the_wrong_type_is_a_yativo_error(redis_url: str) -> None:
    # Raw redis-py ResponseError leaked from the token cache before.
    fake = FakeYativo(rate_limits=[], seed=8311)
    key = fake.add_key()
    from yativo_async._redis import redis_key_id

    token_key = f"yativo:tok:{{{redis_key_id(key.api_key)}}}"
    r = aioredis.from_url(redis_url)
    try:
        await r.rpush(token_key, "junk")
        async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                                  transport=fake.transport(), rate_limits=[],
                                  redis=redis_url) as client:
            with pytest.raises(y.RedisUnavailableError, match=r"token cache.*WRONGTYPE"):
                await client.api_keys.list()
    finally:
        await r.delete(token_key)
        await r.aclose()
    assert fake.token_exchanges == 0


@pytest.mark.parametrize("fallback", ["fail", "local"])
@pytest.mark.parametrize("with_token", [False, True])
async def test_a_wrong_redis_password_is_refused_not_ridden_out_locally(
    redis_url: str, caplog: pytest.LogCaptureFixture, fallback: str, with_token: bool
) -> None:
    # A wrong password is a setting to fix: redis-py raises it as a ConnectionError, and
    # with redis_fallback="local" the client ran on its in-process share for ever, logged as
    # "Redis is unreachable". It is refused, naming the reason, and nothing is sent.
    r = aioredis.from_url(redis_url)
    await r.acl_setuser("yativo-test", enabled=True, passwords=["+right-password"],
                        keys=["*"], commands=["+@all"])
    await r.aclose()
    url = redis_url.replace("redis://", "redis://yativo-test:wrong-password@")
    fake = FakeYativo(rate_limits=[], seed=8312)
    key = fake.add_key()
    creds: dict[str, Any] = (
        {"access_token": "tok-" + "x" * 20} if with_token
        else {"api_key": key.api_key, "api_secret": key.api_secret}
    )
    local: dict[str, Any] = {"local_share": 0.5} if fallback == "local" else {}
    async with y.YativoClient(**creds, transport=fake.transport(), redis=url,
                              rate_limits=[y.RateLimit(100, 60.0)],
                              redis_fallback=fallback, **local) as client:  # type: ignore[arg-type]
        for _ in range(2):
            with pytest.raises(y.RedisUnavailableError, match="password") as info:
                await client.api_keys.list()
            assert "refused" in str(info.value) and "AuthenticationError" in str(info.value)
            assert "wrong-password" not in str(info.value)
    assert fake.journal == []  # nothing reached the server, not even a token exchange
    assert "unreachable" not in caplog.text
    assert "wrong-password" not in caplog.text


async def test_a_views_max_wait_on_a_token_queued_in_redis_says_when_to_retry(
    redis_url: str,
) -> None:
    # The fleet's hour is spent; this process needs a token, and its exchange queues for
    # budget in Redis. The view's max_wait fails the call, with the wait Redis gave (the
    # synchronous status() cannot read Redis: retry_after was None).
    limits = [y.RateLimit(2, 3600.0)]
    fake = FakeYativo(rate_limits=[], seed=8313)
    key = fake.add_key()
    kw: dict[str, Any] = {"api_key": key.api_key, "api_secret": key.api_secret,
                          "transport": fake.transport(), "rate_limits": limits,
                          "redis": redis_url}
    from yativo_async._redis import redis_key_id

    r = aioredis.from_url(redis_url)
    try:
        async with y.YativoClient(**kw) as first:
            await first.api_keys.list()  # the exchange and the list: 2 of the hour's 2
        await r.delete(f"yativo:tok:{{{redis_key_id(key.api_key)}}}")  # no token to share
        async with y.YativoClient(**kw) as second:
            with pytest.raises(y.RateLimitError) as info:
                await second.with_options(max_wait=0.5).api_keys.list()
            assert info.value.from_client
            assert info.value.retry_after is not None and info.value.retry_after > 3000
    finally:
        await r.aclose()
    assert fake.token_exchanges == 1


async def test_redis_back_after_an_outage_is_used_at_once_for_the_token(
    own_redis: RedisProcess,
) -> None:
    # The token cache could not be read (RedisUnavailableError): that armed the exchange
    # backoff, and calls kept failing "Redis is unreachable" for up to 30 s after it was back.
    fake = FakeYativo(rate_limits=[])
    key = fake.add_key()
    client = y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                            transport=fake.transport(), rate_limits=[], redis=own_redis.url)
    own_redis.kill()
    with pytest.raises(y.RedisUnavailableError):
        await client.api_keys.list()
    own_redis.start()
    assert [k.id for k in await client.api_keys.list()] == [key.id]  # at once
    await client.aclose()


async def test_a_token_exchanged_while_redis_goes_is_kept(own_redis: RedisProcess) -> None:
    # The exchange went out under the fleet's lock, then Redis died: the token it brought
    # back was thrown away ("nothing was sent", or a second exchange).
    fake = FakeYativo(rate_limits=[])
    key = fake.add_key()
    fake.set_faults("token", latency=0.5)
    client = y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                            transport=fake.transport(), rate_limits=[], redis=own_redis.url)

    async def kill_soon() -> None:
        await asyncio.sleep(0.2)  # the exchange is on its way
        await asyncio.to_thread(own_redis.kill)

    keys, _ = await asyncio.gather(client.api_keys.list(), kill_soon())
    assert [k.id for k in keys] == [key.id]
    assert fake.token_exchanges == 1
    await client.aclose()


async def test_the_token_lock_outlives_an_exchange_that_waits_for_budget(redis_url: str) -> None:
    # An exchange held up (by budget, say) past the lock's life: the lock expired and a
    # second process exchanged too. The holder renews it; the other waits for its token.
    from yativo_async._redis import RedisTokenCache

    exchanges = 0

    async def slow_exchange(api_key: str, api_secret: y.Secret) -> tuple[y.AccessToken, float]:
        nonlocal exchanges
        exchanges += 1
        await asyncio.sleep(2.0)  # four times the lock's 0.5 s
        token = y.AccessToken(access_token=y.Secret("tok_1"), expires_in=3600,
                              token_type="Bearer")
        return token, asyncio.get_running_loop().time()

    caches = [RedisTokenCache(redis_url, lock_ttl=0.5, wait_timeout=1.0) for _ in range(2)]
    secret = y.Secret("yvs_lock_renewed")
    first = asyncio.ensure_future(caches[0].fetch("yvk_lock", secret, slow_exchange,
                                                  reject=None))
    await asyncio.sleep(0.1)  # the first holds the lock
    token, _ = await caches[1].fetch("yvk_lock", secret, slow_exchange, reject=None)
    assert token.access_token.get_secret_value() == "tok_1"
    await first
    assert exchanges == 1
    for cache in caches:
        await cache.aclose()


def test_bad_redis_settings_are_refused_at_construction() -> None:
    import redis as sync_redis

    from yativo_async._redis import RedisTokenCache

    limits = [y.RateLimit(1, 1.0)]
    for kwargs in ({"lease": float("nan")}, {"grace": float("inf")}, {"poll": 0},
                   {"retry_redis": -1}, {"max_wait": -1}, {"max_wait": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            RedisRateLimiter("redis://127.0.0.1:1", "n", limits, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_wait"):
        RedisRateLimiter("redis://127.0.0.1:1", "n", limits, max_wait="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        RedisRateLimiter("redis://127.0.0.1:1", "", limits)
    for kwargs in ({"lock_ttl": 0}, {"poll": -1}, {"wait_timeout": float("inf")},
                   {"refresh_ratio": 0}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            RedisTokenCache("redis://127.0.0.1:1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cluster URL"):
        y.YativoClient(access_token="t", redis="redis+cluster://")
    with pytest.raises(TypeError, match="asyncio client"):
        y.YativoClient(access_token="t", redis=sync_redis.Redis())


def test_a_redis_cluster_failure_counts_as_unreachable() -> None:
    # RedisClusterException is not a RedisError: it escaped raw from every call, and
    # redis_fallback was ignored.
    from redis.exceptions import RedisClusterException

    from yativo_async._redis import _unreachable

    assert _unreachable(RedisClusterException("Redis Cluster cannot be connected"))


async def test_a_client_rotated_to_another_api_key_counts_against_that_keys_budget(
    redis_url: str,
) -> None:
    # The server keeps a budget per key; so must the fleet. A process moved to key 2 with
    # rotate_credentials kept counting against key 1's budget in Redis, and key 2's other
    # processes earned 429s.
    limits = [y.RateLimit(2, 30.0)]
    fake = FakeYativo(rate_limits=limits)
    one, two = fake.add_key("one"), fake.add_key("two")
    a = y.YativoClient(api_key=one.api_key, api_secret=one.api_secret, max_wait=0,
                       transport=fake.transport(), rate_limits=limits, redis=redis_url)
    b = y.YativoClient(api_key=two.api_key, api_secret=two.api_secret, max_wait=0,
                       transport=fake.transport(), rate_limits=limits, redis=redis_url)
    # key 2: the exchange and the list, 2 of 2 (token in Redis). A cold call with
    # max_wait=0 on Redis goes through: its exchange's round trip is not a wait for budget.
    await b.api_keys.list()
    await a.rotate_credentials(api_key=two.api_key, api_secret=two.api_secret)
    with pytest.raises(y.RateLimitError) as info:
        await a.api_keys.list()  # key 2's token from Redis; key 2's budget is spent
    assert info.value.from_client  # refused by the fleet's budget, not by the server
    assert fake.count("status:429") == 0
    await a.aclose()
    await b.aclose()


async def test_token_providers_of_different_keys_do_not_share_a_budget(
    redis_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    # Clients with token_provider= shared one "custom" budget in Redis whatever key they
    # stood for: two keys of 2 per 30 s got 2 between them. A provider naming its key
    # (api_key or budget_name) gets that key's budget; one that names nothing is warned of.
    class Provider:
        def __init__(self, api_key: str | None) -> None:
            if api_key is not None:
                self.api_key = api_key

        async def get_token(self) -> y.BearerToken:
            return y.BearerToken(y.Secret("tok_provider"))

        def invalidate(self, token: y.BearerToken) -> None:
            return None

        async def aclose(self) -> None:
            return None

    limits = [y.RateLimit(2, 30.0)]

    def answer(request: y.Request) -> y.Response:
        return y.Response(status=200, body=b'{"keys": []}')

    clients = [y.YativoClient(token_provider=Provider(f"yvk_provider_{i}"), max_wait=0,
                              transport=y.MockTransport(answer), rate_limits=limits,
                              redis=redis_url) for i in range(2)]
    for client in clients:
        for _ in range(2):
            await client.api_keys.list()  # each key's own 2
    for client in clients:
        await client.aclose()
    caplog.set_level(logging.WARNING, "yativo_async")
    anonymous = y.YativoClient(token_provider=Provider(None), transport=y.MockTransport(answer),
                               rate_limits=limits, redis=redis_url)
    assert any("shares one rate-limit budget" in r.getMessage() for r in caplog.records)
    await anonymous.aclose()


async def test_slots_taken_locally_while_redis_hung_are_told_to_redis_when_it_answers(
    own_redis: RedisProcess,
) -> None:
    # Redis stops answering (it keeps its windows: no re-seed comes). The slots this
    # process took in its fallback were never told to Redis, so after the outage another
    # process sent a full window on top of them (server 429s).
    import os
    import signal

    limits = [y.RateLimit(3, 30.0)]
    a = RedisRateLimiter(own_redis.url, "hung-back", limits, fallback="local", local_share=1.0,
                         retry_redis=0.5)
    (await a.acquire()).release()  # through Redis: a connection, and the epoch
    await asyncio.gather(*list(a._pending))
    assert own_redis.proc is not None
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        (await a.acquire()).release()  # the read times out: locally, 2 of 3
        assert a.stats.fallback_slots == 1
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, a._retry_at - loop.time()))  # Redis is tried again now
    (await a.acquire()).release()  # through Redis, which hears of the local one
    await asyncio.gather(*list(a._pending))
    ours = {slot_id for _, slot_id in a._history[0]}  # the three this process used
    assert len(ours) == 3
    r = aioredis.from_url(own_redis.url)
    try:
        known = {m.decode() for m in await r.zrange("yativo:rl:{hung-back}:w30000", 0, -1)}
    finally:
        await r.aclose()
    assert ours <= known  # the local one too: another process counts it
    await a.aclose()


async def test_a_call_queued_locally_goes_back_to_redis_once_it_answers(
    own_redis: RedisProcess,
) -> None:
    # Queued in the in-process fallback when Redis hung, granted there after Redis was
    # back: a slot Redis never heard of. It now takes its slot through Redis.
    import os
    import signal

    limits = [y.RateLimit(2, 1.0)]
    a = RedisRateLimiter(own_redis.url, "queued-back", limits, fallback="local",
                         local_share=0.5, retry_redis=0.2, lease=0.5)
    (await a.acquire()).release()
    await asyncio.gather(*list(a._pending))
    assert own_redis.proc is not None
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    try:
        (await a.acquire()).release()  # times out: the fallback's one slot a second
        queued = asyncio.ensure_future(a.acquire())  # waits in the fallback's queue
        await asyncio.sleep(0)
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, a._retry_at - loop.time()))
    (await a.acquire()).release()  # Redis answers again
    (await queued).release()
    assert a.stats.fallback_slots == 1  # the queued call's slot came from Redis
    await a.aclose()


async def test_a_fallback_starts_with_its_share_of_what_the_fleet_used(
    own_redis: RedisProcess,
) -> None:
    # A used 8 and B 2 of a window of 10 when Redis died; each goes on locally at half the
    # budget. B's fallback counted only its own 2 and let 3 more through: 13 in the window.
    # It now starts with its half of the fleet's 10, and lets none through.
    limits = [y.RateLimit(10, 30.0)]
    a = RedisRateLimiter(own_redis.url, "share-seed", limits, fallback="local",
                         local_share=0.5, max_wait=0)
    b = RedisRateLimiter(own_redis.url, "share-seed", limits, fallback="local",
                         local_share=0.5, max_wait=0)
    for _ in range(8):
        (await a.acquire()).release()
    for _ in range(2):
        (await b.acquire()).release()
    await asyncio.gather(*list(a._pending), *list(b._pending))
    own_redis.kill()
    with pytest.raises(y.RateLimitError):
        await b.acquire()
    with pytest.raises(y.RateLimitError):
        await a.acquire()
    await a.aclose()
    await b.aclose()


async def test_calls_queued_locally_try_redis_again_when_it_is_due(own_redis: RedisProcess) -> None:
    # B's calls queued in its fallback while Redis was down; Redis came back, A used it,
    # and B's queued calls were still granted locally (nothing of B had asked Redis since):
    # with A's calls, more than the window at the server. They now try Redis when it is due.
    limits = [y.RateLimit(10, 2.0)]
    fake = FakeYativo(rate_limits=limits)
    key = fake.add_key()
    kwargs: dict[str, Any] = dict(api_key=key.api_key, api_secret=key.api_secret,
                                  transport=fake.transport(), rate_limits=limits,
                                  redis=own_redis.url, redis_fallback="local", local_share=0.5)
    async with y.YativoClient(**kwargs) as a, y.YativoClient(**kwargs) as b:
        await a.api_keys.list()
        await b.api_keys.list()
        await asyncio.sleep(2.1)  # an empty window
        own_redis.kill()
        await b.api_keys.list()  # B notices: local, at 5 per 2 s
        queued = asyncio.gather(*(b.api_keys.list() for _ in range(10)))
        await asyncio.sleep(0.5)
        own_redis.start()  # back, empty
        await asyncio.sleep(0.1)
        await asyncio.gather(*(a.api_keys.list() for _ in range(10)))
        await queued
    assert fake.count("status:429") == 0
