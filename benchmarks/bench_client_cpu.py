"""Client CPU per call: YativoClient against a hand-written aiohttp loop, same server.

The server (``yativo fake-server``) runs in another process, so this process's CPU time is
the client's alone. Target (DESIGN.md section 4): at most 1.15x the hand-written loop.

Run:  python benchmarks/bench_client_cpu.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import aiohttp

import yativo_async as y


async def raw_loop(base_url: str, token: str, calls: int) -> float:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        t = time.process_time()
        for _ in range(calls):
            async with session.get(f"{base_url}/apikey/list", headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(resp.status)
                data = json.loads(await resp.read())
                _ = [k["id"] for k in data["keys"]]
        return time.process_time() - t


async def sdk_loop(base_url: str, token: str, calls: int, limits: bool) -> float:
    # limiter on: three windows as by default, with budgets too large to make anyone wait
    big = [y.RateLimit(10**9, 60.0), y.RateLimit(10**9, 3600.0), y.RateLimit(10**9, 86400.0)]
    kw = {"rate_limits": big if limits else []}
    async with y.YativoClient(access_token=token, base_url=base_url, **kw) as client:
        t = time.process_time()
        for _ in range(calls):
            await client.api_keys.list()
        return time.process_time() - t


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", "from yativo_async.cli import main; main()", "fake-server",
         "--port", "0", "--json", "--no-limits"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        base, token = info["base_url"], info["access_token"]
        # Alternate the runs so both see the same machine state; keep the best of each.
        results: dict[str, list[float]] = {"raw aiohttp": [], "YativoClient (no limiter)": [],
                                           "YativoClient (3 windows on)": []}
        for _ in range(3):
            results["raw aiohttp"].append(await raw_loop(base, token, args.calls))
            results["YativoClient (no limiter)"].append(
                await sdk_loop(base, token, args.calls, limits=False))
            results["YativoClient (3 windows on)"].append(
                await sdk_loop(base, token, args.calls, limits=True))
        print(f"CPU per call over {args.calls} sequential calls (best of 3), client process only")
        raw = min(results["raw aiohttp"]) / args.calls * 1e6
        for name, times in results.items():
            if not times:
                continue
            per = min(times) / args.calls * 1e6
            print(f"  {name:28} {per:8.1f} µs   {per / raw:5.2f}x")
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()


if __name__ == "__main__":
    asyncio.run(main())
