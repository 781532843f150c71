"""A DESIGN.md section 4 figure (the memory of 10,000 pending calls is in `fig_queue`):

* a day of full-demand traffic simulated in virtual time against the strict FakeYativo
  (target: under 10 s of wall time), with 10,000 concurrent cold calls making 1 exchange.

Run:  python -m benchmarks day
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import looptime

import yativo_async as y
from yativo_async.testing import FakeYativo


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


def run(*, quick: bool, rounds: int) -> dict[str, Any]:
    # The fake stamps X-RateLimit-Reset as epoch seconds from its (virtual) loop clock, so the
    # client rightly warns that each reset looks hours away and caps it: tens of thousands
    # of identical warnings that would drown the table (and cost wall time to print).
    logging.getLogger("yativo_async").setLevel(logging.ERROR)
    loop = looptime.new_event_loop(start=0.0)  # virtual time: sleeps take no wall time
    try:
        wall, ok, n429, exchanges = loop.run_until_complete(virtual_day())
    finally:
        loop.close()
    return {
        "title": "One virtual day at full demand (default limits, strict fake, 10,000 cold "
                 "calls then 50 workers)",
        "wall_s": wall, "answered_200": ok, "server_429s": n429, "token_exchanges": exchanges,
        "targets": {"< 10 s of wall time": wall < 10, "0 server 429s": n429 == 0},
    }
