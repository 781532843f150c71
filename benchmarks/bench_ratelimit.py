"""Rate limiting side by side, in one run on one machine.

1. Full demand against a strict FakeYativo on a real loopback socket, with 0-20 ms of latency
   jitter: server 429s and share of the ideal pace for the SDK's limiter and for the same
   client (its own limiter off, no retries) paced by aiolimiter, pyrate-limiter and limits'
   moving window.
2. Acquire overhead: CPU per acquire+release uncontended, and with 10,000 waiters.

Run:  python benchmarks/bench_ratelimit.py [--requests 120] [--limit 20]
"""

from __future__ import annotations

import argparse
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


async def overhead_waiters(n: int = 10_000) -> dict[str, float]:
    out = {}
    ours = SlidingWindowLimiter([y.RateLimit(500, 0.05)])

    async def take_ours() -> None:
        (await ours.acquire()).release()

    t = time.process_time()
    await asyncio.gather(*(take_ours() for _ in range(n)))
    out["yativo_async"] = (time.process_time() - t) / n * 1e6
    aio = aiolimiter.AsyncLimiter(500, 0.05)

    async def take_aio() -> None:
        async with aio:
            pass

    t = time.process_time()
    await asyncio.gather(*(take_aio() for _ in range(n)))
    out["aiolimiter"] = (time.process_time() - t) / n * 1e6
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args()
    print(f"1. Full demand: {args.requests} requests at once, strict server at {args.limit}/1 s, "
          "0-20 ms latency jitter, real loopback socket")
    print(f"{'limiter':36} {'429s':>5} {'ok':>5} {'elapsed s':>10} {'pace vs ideal':>14}")
    for name in PEERS:
        r = await full_demand(name, args.requests, args.limit, 1.0)
        print(f"{r['limiter']:36} {r['server_429s']:>5} {r['succeeded']:>5} "
              f"{r['elapsed_s']:>10} {r['pace_vs_ideal']:>14}")
    print("\n2a. CPU per acquire+release, uncontended (µs)")
    for name, us in (await overhead_uncontended()).items():
        print(f"  {name:28} {us:7.2f}")
    print("\n2b. CPU per acquire+release with 10,000 waiters (µs)")
    for name, us in (await overhead_waiters()).items():
        print(f"  {name:28} {us:7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
