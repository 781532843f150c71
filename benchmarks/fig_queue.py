"""Many calls queued for budget.

* memory: 100,000 ``api_keys.list()`` calls queued on one client (default limits, so all
  but the first few wait), against 100,000 raw aiohttp GETs queued in aiohttp's own
  connection pool (100 connections, held by a server that never answers). Target < 300 MB.
* wake cost: CPU per acquire+release when 10 ... 100,000 callers queue on one limiter at
  once, in virtual time (looptime: the waits take no wall time, the CPU is real); the
  target is flat. Beside it, in real time, 10,000 waiters on our limiter and on aiolimiter
  at 500 per 50 ms (aiolimiter's own sleeps do not finish under looptime).
* 10,000 pending calls (the DESIGN.md figure: < 100 MB).
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from typing import Any

import aiohttp
import aiolimiter
import looptime

import yativo_async as y
from yativo_async._ratelimit import SlidingWindowLimiter
from yativo_async.testing import FakeYativo

from ._server import Server
from ._stats import summary


async def _sdk_pending(n: int) -> tuple[float, int]:
    fake = FakeYativo()
    key = fake.add_key()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport()) as client:
        await client.api_keys.list()  # warm: token, imports, caches
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.take_snapshot()
        tasks = [asyncio.create_task(client.api_keys.list()) for _ in range(n)]
        await asyncio.sleep(0.05)  # every task is now queued for budget
        held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
        tracemalloc.stop()
        waiting = client._limiter.waiting
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return held / 1e6, waiting


async def _raw_pending(url: str, n: int) -> float:
    async with aiohttp.ClientSession() as session:

        async def get() -> None:
            async with session.get(url) as resp:
                await resp.read()

        gc.collect()
        tracemalloc.start()
        base = tracemalloc.take_snapshot()
        tasks = [asyncio.create_task(get()) for _ in range(n)]
        await asyncio.sleep(0.5)  # 100 in flight, the rest queued for a connection
        held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
        tracemalloc.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return held / 1e6


async def _wake_ours(n: int, limit: int = 100, period: float = 1.0) -> float:
    limiter = SlidingWindowLimiter([y.RateLimit(limit, period)])

    async def take() -> None:
        (await limiter.acquire()).release()

    t = time.process_time()
    await asyncio.gather(*(take() for _ in range(n)))
    return (time.process_time() - t) / n * 1e6


async def _wake_aiolimiter(n: int) -> float:
    limiter = aiolimiter.AsyncLimiter(500, 0.05)

    async def take() -> None:
        async with limiter:
            pass

    t = time.process_time()
    await asyncio.gather(*(take() for _ in range(n)))
    return (time.process_time() - t) / n * 1e6


def _virtual(coro: Any) -> Any:
    loop = looptime.new_event_loop(start=0.0)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def run(*, quick: bool, rounds: int) -> dict[str, Any]:
    big = 20_000 if quick else 100_000
    sizes = [10, 1_000, 10_000] + ([] if quick else [100_000])
    sdk_mb, waiting = asyncio.run(_sdk_pending(big))
    sdk10_mb, waiting10 = asyncio.run(_sdk_pending(10_000))
    with Server() as server:
        raw_mb = asyncio.run(_raw_pending(f"http://127.0.0.1:{server.port}/hang", big))
    wake: dict[int, list[float]] = {}
    real: dict[str, list[float]] = {"yativo_async": [], "aiolimiter": []}
    for _ in range(rounds):
        for n in sizes:
            wake.setdefault(n, []).append(_virtual(_wake_ours(n)))
        real["yativo_async"].append(asyncio.run(_wake_ours(10_000, 500, 0.05)))
        real["aiolimiter"].append(asyncio.run(_wake_aiolimiter(10_000)))
    ours = {n: summary(v) for n, v in wake.items()}
    flatness = ours[sizes[-1]]["best"] / ours[sizes[0]]["best"]
    return {
        "title": f"{big:,} calls queued for budget",
        "memory_mb": {f"yativo_async, {big:,} calls queued": sdk_mb,
                      f"raw aiohttp, {big:,} GETs queued for a connection": raw_mb,
                      "yativo_async, 10,000 calls queued": sdk10_mb},
        "queued": {"big": waiting, "10k": waiting10},
        "wake_us_virtual": ours,
        "wake_us_real_10k": {k: summary(v) for k, v in real.items()},
        "wake_largest_vs_smallest": flatness,
        "targets": {
            f"memory < 300 MB at 100,000{'' if big == 100_000 else ' (extrapolated)'}":
                sdk_mb * 100_000 / big < 300,
            "10,000 pending < 100 MB": sdk10_mb < 100,
            # "flat": the largest queue costs at most twice the smallest per waiter
            "wake cost flat (largest/smallest <= 2)": flatness <= 2.0,
        },
    }
