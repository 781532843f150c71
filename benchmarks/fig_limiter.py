"""Rate limiting side by side, in one run on one machine.

1. Full demand against a strict FakeYativo on a real loopback socket, with 0-20 ms of latency
   jitter: server 429s and share of the ideal pace for the SDK's limiter and for the same
   client (its own limiter off, no retries) paced by aiolimiter, pyrate-limiter and limits'
   moving window.
2. Acquire overhead: CPU per acquire+release uncontended.

Run:  python -m benchmarks limiter
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiolimiter
import pyrate_limiter
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

import yativo_async as y
from yativo_async._ratelimit import SlidingWindowLimiter
from yativo_async.testing import FakeYativo

from ._stats import summary

Gate = Callable[[], contextlib.AbstractAsyncContextManager[Any]]


def sdk_gate(limit: int, period: float) -> tuple[Gate, list[y.RateLimit]]:
    return (lambda: contextlib.nullcontext()), [y.RateLimit(limit, period)]  # type: ignore[return-value]


def aiolimiter_gate(limit: int, period: float) -> tuple[Gate, list[y.RateLimit]]:
    limiter = aiolimiter.AsyncLimiter(limit, period)
    return (lambda: limiter), []


def pyrate_gate(limit: int, period: float) -> tuple[Gate, list[y.RateLimit]]:
    limiter = pyrate_limiter.Limiter(
        pyrate_limiter.Rate(limit, int(period * pyrate_limiter.Duration.SECOND))
    )

    @contextlib.asynccontextmanager
    async def gate() -> AsyncIterator[None]:
        await limiter.try_acquire_async("k")
        yield

    return gate, []


def limits_gate(limit: int, period: float) -> tuple[Gate, list[y.RateLimit]]:
    storage = MemoryStorage()
    strategy = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(limit, int(period))

    @contextlib.asynccontextmanager
    async def gate() -> AsyncIterator[None]:
        while not await strategy.hit(item, "k"):
            stats = await strategy.get_window_stats(item, "k")
            await asyncio.sleep(max(0.001, stats.reset_time - time.time()))
        yield

    return gate, []


PEERS = {
    "yativo_async (stamp on response)": sdk_gate,
    "aiolimiter 1.x (leaky bucket)": aiolimiter_gate,
    "pyrate-limiter 4.x (sliding log)": pyrate_gate,
    "limits 5.x (moving window)": limits_gate,
}


async def full_demand(name: str, requests: int, limit: int, period: float) -> dict[str, Any]:
    make = PEERS[name]
    gate, client_limits = make(limit, period)
    async with FakeYativo(rate_limits=[y.RateLimit(limit, period)], seed=11) as fake:
        fake.set_faults(jitter=0.02)
        retry = y.RetryPolicy.none()
        async with y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                  rate_limits=client_limits, retry=retry) as client:
            start = time.perf_counter()
            ok = 0

            async def one() -> None:
                nonlocal ok
                async with gate():
                    try:
                        await client.api_keys.list()
                        ok += 1
                    except y.RateLimitError:
                        pass

            await asyncio.gather(*(one() for _ in range(requests)))
            elapsed = time.perf_counter() - start
        ideal = (math.ceil(requests / limit) - 1) * period
        return {
            "limiter": name,
            "server_429s": fake.count("status:429"),
            "succeeded": ok,
            "elapsed_s": round(elapsed, 2),
            "pace_vs_ideal": round(min(1.0, ideal / elapsed) * ok / requests, 3),
        }


async def overhead_uncontended(n: int = 20_000) -> dict[str, float]:
    out = {}
    ours = SlidingWindowLimiter([y.RateLimit(10**9, 1.0)])
    t = time.process_time()
    for _ in range(n):
        (await ours.acquire()).release()
    out["yativo_async"] = (time.process_time() - t) / n * 1e6
    ours3 = SlidingWindowLimiter([y.RateLimit(10**9, 1.0), y.RateLimit(10**9, 60.0),
                                  y.RateLimit(10**9, 3600.0)])
    t = time.process_time()
    for _ in range(n):
        (await ours3.acquire()).release()
    out["yativo_async, 3 windows"] = (time.process_time() - t) / n * 1e6
    aio = aiolimiter.AsyncLimiter(10**9, 1.0)
    t = time.process_time()
    for _ in range(n):
        async with aio:
            pass
    out["aiolimiter"] = (time.process_time() - t) / n * 1e6
    pyr = pyrate_limiter.Limiter(pyrate_limiter.Rate(10**9, pyrate_limiter.Duration.SECOND),
                                 buffer_ms=0)
    t = time.process_time()
    for _ in range(n // 4):
        await pyr.try_acquire_async("k")
    out["pyrate-limiter"] = (time.process_time() - t) / (n // 4) * 1e6
    return out


def run(*, quick: bool, rounds: int) -> dict[str, Any]:
    requests, limit = (60, 20) if quick else (120, 20)
    demand = [asyncio.run(full_demand(name, requests, limit, 1.0)) for name in PEERS]
    overhead: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, us in asyncio.run(overhead_uncontended(5_000 if quick else 20_000)).items():
            overhead.setdefault(name, []).append(us)
    ours = next(r for r in demand if r["limiter"].startswith("yativo_async"))
    return {
        "title": f"Full demand: {requests} requests at once, strict server at {limit}/1 s, "
                 "0-20 ms latency jitter, real loopback socket",
        "demand": demand,
        "acquire_us": {k: summary(v) for k, v in overhead.items()},
        "targets": {
            "0 server 429s": ours["server_429s"] == 0,
            ">= 97% of ideal pace": ours["pace_vs_ideal"] >= 0.97,
        },
    }
