"""Two DESIGN.md section 4 figures:

* memory held by 10,000 pending calls queued on one client (target: under 100 MB);
* a day of full-demand traffic simulated in virtual time against the strict FakeYativo
  (target: under 10 s of wall time), with 10,000 concurrent cold calls making 1 exchange.

Run:  python benchmarks/bench_capacity.py
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import looptime

import yativo_async as y
from yativo_async.testing import FakeYativo


async def pending_memory(n: int = 10_000) -> tuple[float, int]:
    fake = FakeYativo()
    key = fake.add_key()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport()) as client:
        await client.api_keys.list()  # warm: token, imports, caches
        tracemalloc.start()
        base = tracemalloc.take_snapshot()
        tasks = [asyncio.create_task(client.api_keys.list()) for _ in range(n)]
        await asyncio.sleep(0.01)  # every task is now queued for budget
        held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
        tracemalloc.stop()
        waiting = client._limiter.waiting  # type: ignore[union-attr]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return held / 1e6, waiting


async def virtual_day() -> tuple[float, int, int, int]:
    fake = FakeYativo()
    key = fake.add_key()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport()) as client:
        loop = asyncio.get_running_loop()
        end = loop.time() + 86_400
        started = time.perf_counter()
        pending = [asyncio.ensure_future(client.api_keys.list()) for _ in range(10_000)]

        async def worker() -> None:
            while loop.time() < end:
                await client.api_keys.list()

        await asyncio.gather(*pending, *(worker() for _ in range(50)))
        wall = time.perf_counter() - started
    return wall, fake.count("status:200"), fake.count("status:429"), fake.token_exchanges


def main() -> None:
    mb, waiting = asyncio.run(pending_memory())
    print(f"10,000 pending calls: {waiting} queued for budget, {mb:.1f} MB held "
          "(tracemalloc, target < 100 MB)")
    loop = looptime.new_event_loop(start=0.0)  # virtual time: sleeps take no wall time
    try:
        wall, ok, n429, exchanges = loop.run_until_complete(virtual_day())
    finally:
        loop.close()
    print(f"one virtual day at full demand: {wall:.1f} s wall, {ok} answered 200, "
          f"{n429} server 429s, {exchanges} token exchanges (target < 10 s)")


if __name__ == "__main__":
    main()
