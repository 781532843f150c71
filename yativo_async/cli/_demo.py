"""``yativo demo``: FakeYativo on loopback, a key made with 2FA, then a batch of concurrent
calls through one client with faults on, and a table of what the SDK did."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from .. import RateLimit, YativoClient, YativoError
from ..testing import FakeYativo

# Scaled so a few hundred calls finish in seconds, while still binding.
DEMO_LIMITS = [RateLimit(100, 1.0), RateLimit(3000, 60.0)]


async def run_demo(*, calls: int, concurrency: int, faults: bool, seed: int,
                   progress: bool, console: Console) -> dict[str, Any]:
    async with FakeYativo(rate_limits=DEMO_LIMITS, seed=seed) as fake:
        async with YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                two_factor=fake.totp_secret) as admin:
            created = await admin.api_keys.create(name="demo batch key",
                                                  permissions=["read"])
        if faults:
            fake.set_faults(latency=0.002, jitter=0.02, error_rate=0.03,
                            error_statuses=(503,))
        latencies: list[float] = []
        failed = 0
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        async with YativoClient(api_key=created.api_key, api_secret=created.api_secret,
                                base_url=fake.base_url, rate_limits=DEMO_LIMITS,
                                seed=seed) as client:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(calls):
                queue.put_nowait(i)
            bar = Progress("[progress.description]{task.description}", BarColumn(),
                           MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                           disable=not progress, transient=True)
            with bar:
                task = bar.add_task("calls", total=calls)

                async def worker() -> None:
                    nonlocal failed
                    while not queue.empty():
                        queue.get_nowait()
                        t = loop.time()
                        try:
                            await client.api_keys.list()
                        except YativoError:
                            failed += 1
                        latencies.append(loop.time() - t)
                        bar.advance(task)

                await asyncio.gather(*(worker() for _ in range(min(concurrency, calls))))
            elapsed = time.perf_counter() - started
            stats = client.stats
            latencies.sort()
            return {
                "calls": calls,
                "succeeded": calls - failed,
                "failed": failed,
                "token_exchanges": stats.token_exchanges,
                "server_429s": fake.count("status:429"),
                "server_401s": fake.count("status:401"),
                "retries": stats.retries,
                "faults_injected": sum(fake.count(f"status:{s}") for s in (500, 502, 503, 504)),
                "budget_wait_total_s": round(client.time_waited_for_budget, 3),
                "p50_latency_ms": round(_pct(latencies, 0.50) * 1000, 1),
                "p99_latency_ms": round(_pct(latencies, 0.99) * 1000, 1),
                "elapsed_s": round(elapsed, 2),
                "limits": [f"{r.limit}/{r.period:g}s" for r in DEMO_LIMITS],
            }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


def render(stats: dict[str, Any]) -> Table:
    table = Table(title="What the SDK did")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        table.add_row(key.replace("_", " "), str(value))
    return table
