"""Client CPU per call and calls per second: ``api_keys.list()`` against peers doing the
same GET, at 1, 50 and 500-way concurrency, on list bodies of 0, 5 and 50 keys.

The server runs in its own process (`_server`), so ``time.process_time()`` here is the
client's CPU alone. Each round runs every client once per cell (interleaved, alternating
the order), so all of them see the same machine state; the figure is the best round.
Every client keeps its library's default pool (100 connections; httpx without its
5 s pool timeout, which fails queued calls at 500-way) and is made, and warmed
with one call per worker, before the clock starts. Targets: the SDK <= 1.15x hand-written
aiohttp CPU per call in every cell; >= 0.9x its calls per second at 50 and 500-way.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from typing import Any

from ._peers import CLIENTS, RawAiohttp, Sdk
from ._server import Server
from ._stats import summary

TOKEN = "bench-token"

#: aiohttp and the SDK run back to back in every round (either order), so each round gives
#: a paired ratio measured under the same machine state; the httpx peers run around them
ORDER = (RawAiohttp, Sdk, *(c for c in CLIENTS if c not in (RawAiohttp, Sdk)))


async def _one(client_cls: Any, base: str, calls: int, conc: int) -> tuple[float, float]:
    async with client_cls(base, TOKEN) as client:
        await asyncio.gather(*(client.call() for _ in range(conc)))  # warm: connections
        per_worker = calls // conc

        async def worker() -> None:
            for _ in range(per_worker):
                await client.call()

        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        done = per_worker * conc
        return cpu / done * 1e6, done / wall


def run(
    *, quick: bool, rounds: int, concurrency: tuple[int, ...] = (1, 50, 500),
    sizes: tuple[int, ...] = (0, 5, 50), calls: int | None = None,
) -> dict[str, Any]:
    calls = calls or (400 if quick else 2000)
    cells: list[dict[str, Any]] = []
    with Server() as server:
        for conc in concurrency:
            for size in sizes:
                n = max(calls, conc * 4)
                cpu: dict[str, list[float]] = {c.name: [] for c in CLIENTS}
                rps: dict[str, list[float]] = {c.name: [] for c in CLIENTS}
                for r in range(rounds):
                    order = ORDER if r % 2 == 0 else ORDER[::-1]
                    for client_cls in order:
                        # httpx costs ~20x more per call at 50-way and beyond: a quarter of
                        # the calls measures it as well and keeps the run short
                        m = n // 4 if client_cls.name.startswith("httpx") and conc > 1 else n
                        us, per_s = asyncio.run(_one(client_cls, server.url(size), m, conc))
                        cpu[client_cls.name].append(us)
                        rps[client_cls.name].append(per_s)
                base_cpu = min(cpu["aiohttp + json.loads"])
                base_rps = max(rps["aiohttp + json.loads"])
                cells.append({
                    "concurrency": conc,
                    "keys": size,
                    "calls": n,
                    "cpu_us": {k: summary(v) for k, v in cpu.items()},
                    # calls per second: the best round is the highest
                    "calls_per_s": {k: {"best": max(v), "rounds": v} for k, v in rps.items()},
                    "cpu_vs_aiohttp": {k: min(v) / base_cpu for k, v in cpu.items()},
                    "rps_vs_aiohttp": {k: max(v) / base_rps for k, v in rps.items()},
                    # the median over rounds of SDK / aiohttp measured back to back: robust
                    # to a machine whose speed drifts between rounds
                    "sdk_cpu_vs_aiohttp_paired": statistics.median(
                        s / a for s, a in zip(cpu[Sdk.name], cpu[RawAiohttp.name], strict=True)
                    ),
                })
    worst = max(cells, key=lambda c: c["cpu_vs_aiohttp"]["YativoClient"])
    rps_cells = [c for c in cells if c["concurrency"] >= 50]
    worst_rps = min((c["rps_vs_aiohttp"]["YativoClient"] for c in rps_cells), default=None)
    return {
        "title": f"api_keys.list(): client CPU per call, best of {rounds} interleaved rounds",
        "cells": cells,
        "worst_cell": {"concurrency": worst["concurrency"], "keys": worst["keys"],
                       "sdk_cpu_vs_aiohttp": worst["cpu_vs_aiohttp"]["YativoClient"]},
        "targets": {
            "sdk cpu <= 1.15x aiohttp in every cell":
                worst["cpu_vs_aiohttp"]["YativoClient"] <= 1.15,
            "sdk calls/s >= 0.9x aiohttp at 50 and 500-way":
                worst_rps is not None and worst_rps >= 0.9,
        },
    }
