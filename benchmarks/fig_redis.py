"""Redis limiter: slots per second for one process and for 2 and 4 processes on one key
with generous limits (three windows), and Redis commands (round trips) per slot; beside it
the in-process limiter and no limiter. Each process takes slots from 16 tasks at once.
Starts its own redis-server on a free loopback port.

Run:  python -m benchmarks redis
"""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import time
from typing import Any

import redis

import yativo_async as y

BIG = [y.RateLimit(10**9, 60.0), y.RateLimit(10**9, 3600.0), y.RateLimit(10**9, 86400.0)]
TASKS = 16


async def _take(kind: str, url: str, n: int) -> tuple[float, float]:
    if kind == "redis":
        limiter: Any = y.RedisRateLimiter(url, "bench", BIG)
    elif kind == "in-process":
        limiter = y.SlidingWindowLimiter(BIG)
    else:
        limiter = None

    async def task() -> None:
        for _ in range(n // TASKS):
            if limiter is not None:
                slot = await limiter.acquire()
                await asyncio.sleep(0)  # the request would go here
                slot.release()
            else:
                await asyncio.sleep(0)

    start = time.time()
    await asyncio.gather(*(task() for _ in range(TASKS)))
    closer = getattr(limiter, "aclose", None)
    if closer is not None:
        await closer()  # the releases are written in the background: wait for them
    return start, time.time()


def _worker(args: tuple[str, str, int]) -> tuple[float, float]:
    return asyncio.run(_take(*args))


def _commands(client: redis.Redis) -> int:
    """Script calls so far: each is one round trip (the commands a script runs inside
    Redis are counted in commandstats too, so they cannot be told apart from the client's;
    the limiter sends nothing but scripts on its hot path)."""
    stats = client.info("commandstats")
    return sum(stats.get(k, {}).get("calls", 0) for k in ("cmdstat_evalsha", "cmdstat_eval"))


def _slots_per_s(kind: str, url: str, n: int, procs: int) -> float:
    if procs == 1:
        start, end = _worker((kind, url, n))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(procs) as pool:
            spans = pool.map(_worker, [(kind, url, n)] * procs)
        start, end = min(s for s, _ in spans), max(e for _, e in spans)
    return procs * (n // TASKS * TASKS) / (end - start)


def run(*, quick: bool, rounds: int) -> dict[str, Any]:
    binary = shutil.which("redis-server")
    if binary is None:
        return {"title": "Redis limiter", "skipped": "needs redis-server", "targets": {}}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                            stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    n = 800 if quick else 4000
    try:
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        before = _commands(client)
        _worker(("redis", url, n))
        per_slot = (_commands(client) - before) / (n // TASKS * TASKS)
        rows: dict[str, list[float]] = {}
        for _ in range(rounds):
            for kind, procs in (("none", 1), ("in-process", 1), ("redis", 1), ("redis", 2),
                                ("redis", 4)):
                name = f"{kind}, {procs} process{'es' if procs > 1 else ''}"
                rows.setdefault(name, []).append(_slots_per_s(kind, url, n, procs))
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "title": f"Slots per second, {TASKS} tasks per process, three generous windows",
        "slots_per_s": {k: {"best": max(v), "rounds": v} for k, v in rows.items()},
        "redis_script_calls_per_slot": per_slot,
        # one script call to take, one to release (EVALSHA; the first call loads it)
        "targets": {"2 round trips per slot": per_slot <= 2.05},
    }
