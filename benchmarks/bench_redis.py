"""Cost of a shared slot: wall time per acquire+release through Redis on loopback, one and
three windows, against the in-process limiter in the same run. Starts its own redis-server.

Run:  python benchmarks/bench_redis.py
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time

import yativo_async as y

BIG = [y.RateLimit(10**9, 60.0), y.RateLimit(10**9, 3600.0), y.RateLimit(10**9, 86400.0)]


async def per_slot(limiter: object, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        slot = await limiter.acquire()  # type: ignore[attr-defined]
        slot.release()
    closer = getattr(limiter, "aclose", None)
    if closer is not None:
        await closer()  # the releases are written in the background: wait for them
    return (time.perf_counter() - t) / n * 1e6


async def main(url: str) -> None:
    n = 2000
    rows = [
        ("in-process, 1 window", await per_slot(y.SlidingWindowLimiter(BIG[:1]), n)),
        ("in-process, 3 windows", await per_slot(y.SlidingWindowLimiter(BIG), n)),
        ("Redis, 1 window", await per_slot(y.RedisRateLimiter(url, "b1", BIG[:1]), n)),
        ("Redis, 3 windows", await per_slot(y.RedisRateLimiter(url, "b3", BIG), n)),
    ]
    print(f"wall time per acquire+release, {n} in a row")
    for name, us in rows:
        print(f"  {name:24} {us:8.1f} µs")


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
