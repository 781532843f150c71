"""Client CPU per call and calls per second: ``api_keys.list()`` against peers doing the
same GET, at 1, 50 and 500-way concurrency, on list bodies of 0, 5 and 50 keys.

The server runs in its own process (`_server`), so ``time.process_time()`` here is the
client's CPU alone. A round opens every client in one event loop (each made, and warmed
with one call per worker, before any clock starts), then runs them in short blocks of
calls, taking turns: a machine whose speed drifts (shared CPUs here move 20-40 % within
seconds) slows every client alike, where whole runs one after the other would each catch a
different phase of the drift. The SDK's block and hand-written aiohttp's run back to back,
which one first alternating from block to block (so each follows the httpx clients, and
their garbage, as often as the other), and every block starts from a collected heap: a
block pays for its own garbage, not for the one before it. A client's figure for a round
is its CPU over all its blocks per call; the cell's figure is the best round. Beside it:
the median (and quartiles) over every block of every round of SDK / aiohttp for the two
blocks run back to back, the ratio least touched by the drift. Every client keeps its
library's default pool (100 connections; httpx without its 5 s pool timeout, which fails
queued calls at 500-way). Targets: the SDK <= 1.15x hand-written aiohttp CPU per call in
every cell; >= 0.9x its calls per second at 50 and 500-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import time
from typing import Any

from ._peers import CLIENTS, RawAiohttp, Sdk
from ._server import Server
from ._stats import summary

TOKEN = "bench-token"

#: blocks per client per round (fewer when a block would hold under two calls per worker)
BLOCKS = 10


async def _block(client: Any, calls: int, conc: int) -> tuple[float, float, int]:
    per_worker = calls // conc

    async def worker() -> None:
        for _ in range(per_worker):
            await client.call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return time.process_time() - cpu, time.perf_counter() - wall, per_worker * conc


#: the order clients take turns in: the SDK and the peer its target is set against first
#: (the two swap places every other block), then the others
_TURNS = (RawAiohttp, Sdk, *(c for c in CLIENTS if c not in (RawAiohttp, Sdk)))


async def _round(
    base: str, calls: int, conc: int, flip: bool
) -> tuple[dict[str, tuple[float, float]], list[float]]:
    """One round: every client's (CPU µs per call, calls per second) over its blocks, and
    per block SDK / aiohttp CPU per call."""
    block = max(calls // BLOCKS, conc * 2)
    blocks = max(2, calls // block)
    pairs: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(c(base, TOKEN)) for c in _TURNS]
        for client in clients:
            await asyncio.gather(*(client.call() for _ in range(conc)))  # warm: connections
        totals = {c.name: [0.0, 0.0, 0] for c in clients}
        for b in range(blocks):
            order = clients if (b % 2 == 0) != flip else [clients[1], clients[0], *clients[2:]]
            this: dict[str, float] = {}
            for client in order:
                gc.collect()
                # httpx costs ~6x more per call at 50-way and beyond: a quarter of the calls
                # measures it as well and keeps the run short
                n = block // 4 if client.name.startswith("httpx") and conc > 1 else block
                cpu, wall, done = await _block(client, max(n, conc), conc)
                this[client.name] = cpu / done
                t = totals[client.name]
                t[0] += cpu
                t[1] += wall
                t[2] += done
            if this[RawAiohttp.name] > 0:
                pairs.append(this[Sdk.name] / this[RawAiohttp.name])
    per_client = {
        name: (cpu / done * 1e6, done / wall) for name, (cpu, wall, done) in totals.items()
    }
    return per_client, pairs


def _quartiles(ratios: list[float]) -> dict[str, float]:
    if len(ratios) < 2:
        only = ratios[0] if ratios else float("nan")
        return {"median": only, "q1": only, "q3": only, "n": len(ratios)}
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    return {"median": median, "q1": q1, "q3": q3, "n": len(ratios)}


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
                pairs: list[float] = []
                for r in range(rounds):
                    got, paired = asyncio.run(_round(server.url(size), n, conc, flip=r % 2 == 1))
                    pairs += paired
                    for name, (us, per_s) in got.items():
                        cpu[name].append(us)
                        rps[name].append(per_s)
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
                    # the median over rounds of SDK / aiohttp measured in the same round
                    "sdk_cpu_vs_aiohttp_paired": statistics.median(
                        s / a for s, a in zip(cpu[Sdk.name], cpu[RawAiohttp.name], strict=True)
                    ),
                    # per block run back to back: SDK / aiohttp (median and quartiles)
                    "sdk_cpu_vs_aiohttp_blocks": _quartiles(pairs),
                })
    worst = max(cells, key=lambda c: c["cpu_vs_aiohttp"]["YativoClient"])
    rps_cells = [c for c in cells if c["concurrency"] >= 50]
    worst_rps = min((c["rps_vs_aiohttp"]["YativoClient"] for c in rps_cells), default=None)
    return {
        "title": f"api_keys.list(): client CPU per call, best of {rounds} rounds of interleaved blocks",
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
