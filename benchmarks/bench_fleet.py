"""The fleet on Redis, measured: round trips per slot, slots per second (one process and
four, generous limits) against no limiter, each process's share of the budget at full
demand (fairness), the interactive call's wait with and without lanes, and 8 real
processes x 100 calls against the strict fake server (429s, token exchanges).
Starts its own redis-server on loopback.

Run:  PYTHONPATH=. python benchmarks/bench_fleet.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import yativo_async as y
from yativo_async._redis import RedisRateLimiter
from yativo_async.testing import FakeYativo

BIG = [y.RateLimit(10**9, 60.0)]


async def round_trips_per_slot(url: str) -> float:
    limiter = RedisRateLimiter(url, "rt", BIG)
    calls = 0
    for attr in ("_acquire_script", "_release_script"):
        real = getattr(limiter, attr)

        def counted(real: Any = real, **kw: Any) -> Any:
            nonlocal calls
            calls += 1
            return real(**kw)

        setattr(limiter, attr, counted)
    n = 200
    for _ in range(n):
        (await limiter.acquire()).release()
    await limiter.aclose()
    return calls / n


SLOTS = """
import asyncio, sys, time
import yativo_async as y
from yativo_async._redis import RedisRateLimiter

async def main(url, name, seconds, limit, period, lane, start_at):
    if name == "none":
        from yativo_async._ratelimit import NullLimiter
        limiter = NullLimiter()
    else:
        limiter = RedisRateLimiter(url, name, [y.RateLimit(int(limit), float(period))],
                                   interactive_reserve=0.1)
    n = 0
    await asyncio.sleep(max(0.0, float(start_at) - time.time()))  # all processes start together
    end = time.monotonic() + float(seconds)

    async def worker():
        nonlocal n
        while time.monotonic() < end:
            slot = await limiter.acquire(lane=lane)
            slot.release()
            if time.monotonic() < end:  # a grant after the end is not this run's
                n += 1

    await asyncio.gather(*(worker() for _ in range(20)))
    await limiter.aclose()
    print(n)

asyncio.run(main(*sys.argv[1:8]))
"""


def run_processes(script: str, args: list[list[str]]) -> list[str]:
    procs = [subprocess.Popen([sys.executable, "-c", script, *a], stdout=subprocess.PIPE,
                              text=True) for a in args]
    return [p.communicate()[0].strip() for p in procs]


async def interactive_wait(url: str, reserve: float, lane: str, *, same_process: bool,
                           samples: int = 5, queued: int = 1000) -> float:
    """A batch job saturates 20 per 0.5 s with ``queued`` calls; then one web call is made
    in the same process or another one: its wait, in ms (median of ``samples``)."""
    limits = [y.RateLimit(20, 0.5)]
    waits = []
    for i in range(samples):
        name = f"iw-{reserve}-{lane}-{same_process}-{i}"
        batch = RedisRateLimiter(url, name, limits, interactive_reserve=reserve, poll=0.02)
        web = batch if same_process else RedisRateLimiter(
            url, name, limits, interactive_reserve=reserve, poll=0.02)

        async def one(batch: RedisRateLimiter = batch) -> None:
            (await batch.acquire(lane=lane)).release()  # type: ignore[arg-type]

        job = asyncio.gather(*(one() for _ in range(queued)))
        await asyncio.sleep(1.0)
        t = time.perf_counter()
        (await web.acquire()).release()
        waits.append((time.perf_counter() - t) * 1000)
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await batch.aclose()
        if web is not batch:
            await web.aclose()
    return sorted(waits)[len(waits) // 2]


WORKER = """
import asyncio, json, sys
import yativo_async as y

async def main(base_url, api_key, api_secret, redis_url, calls, limit, period):
    async with y.YativoClient(api_key=api_key, api_secret=api_secret, base_url=base_url,
                              rate_limits=[y.RateLimit(int(limit), float(period))],
                              redis=redis_url) as client:
        await asyncio.gather(*(client.api_keys.list() for _ in range(int(calls))))
        print(json.dumps(client.stats.as_dict()))

asyncio.run(main(*sys.argv[1:8]))
"""


async def fleet_run(url: str) -> tuple[int, int, int, float]:
    limit, period = 100, 0.25
    async with FakeYativo(rate_limits=[y.RateLimit(limit, period)], seed=1) as fake:
        fake.set_faults(latency=0.002, jitter=0.01)
        key = fake.add_key()
        t = time.perf_counter()
        procs = [await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, fake.base_url, key.api_key, key.api_secret, url,
            "100", str(limit), str(period), stdout=asyncio.subprocess.PIPE)
            for _ in range(8)]
        outs = [json.loads((await p.communicate())[0]) for p in procs]
        elapsed = time.perf_counter() - t
        assert sum(o["token_exchanges"] for o in outs) == fake.token_exchanges
        return fake.count("status:200"), fake.count("status:429"), fake.token_exchanges, elapsed


async def main(url: str) -> None:
    print(f"round trips per slot (take + release): {await round_trips_per_slot(url):.2f}")

    seconds = "2"
    print("\nslots per second, generous limits, 20 concurrent callers per process, "
          f"{seconds} s:")
    for label, name, n in [("no limiter, 1 process", "none", 1),
                           ("Redis, 1 process", "gen1", 1),
                           ("no limiter, 4 processes", "none", 4),
                           ("Redis, 4 processes", "gen4", 4)]:
        start_at = str(time.time() + 3)
        counts = run_processes(SLOTS, [[url, name, seconds, str(10**9), "60", "interactive",
                                        start_at] for _ in range(n)])
        total = sum(int(c) for c in counts)
        print(f"  {label:26} {total / float(seconds):12,.0f} /s")

    print("\nfairness: 4 processes at full demand on 40 per 0.25 s for 6 s (a scaled "
          "minute is 24 windows):")
    start_at = str(time.time() + 3)
    counts = [int(c) for c in run_processes(
        SLOTS, [[url, "fair", "6", "40", "0.25", "interactive", start_at] for _ in range(4)])]
    total = sum(counts)
    print("  shares: " + ", ".join(f"{c / total:.1%}" for c in counts)
          + f"  (ideal 25.0% each; {total} slots of a budget of {int(6 / 0.25 * 40)})")

    print("\ninteractive call's wait while a batch job saturates 20 per 0.5 s:")
    no_lanes = await interactive_wait(url, 0.0, "interactive", same_process=True,
                                      samples=1, queued=200)
    print(f"  no lanes, same process, 200 queued ahead (1 run)   {no_lanes:9.1f} ms")
    for same in (True, False):
        where = "same process" if same else "other process"
        lanes = await interactive_wait(url, 0.0, "batch", same_process=same)
        reserve = await interactive_wait(url, 0.1, "batch", same_process=same)
        print(f"  lanes, no reserve, {where:13}, 1000 queued     {lanes:9.1f} ms  "
              f"(median of 5; {no_lanes / lanes:,.0f}x sooner)")
        print(f"  lanes, reserve 0.1, {where:13}, 1000 queued    {reserve:9.1f} ms  "
              f"(median of 5; {no_lanes / reserve:,.0f}x sooner)")

    ok, r429, exchanges, elapsed = await fleet_run(url)
    print(f"\n8 processes x 100 calls, 100 per 0.25 s, jitter: {ok - 1} calls ok, "
          f"{r429} server 429s, {exchanges} token exchange(s), {elapsed:.1f} s")


if __name__ == "__main__":
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("needs redis-server (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                            stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        asyncio.run(main(f"redis://127.0.0.1:{port}/0"))
    finally:
        proc.terminate()
        proc.wait(10)
