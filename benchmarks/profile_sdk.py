"""What dominates the SDK's client CPU in one cell of the ``cpu`` figure: pyinstrument over
``api_keys.list()`` against the benchmark server (in its own process).

Run:  python -m benchmarks.profile_sdk [--concurrency 50] [--keys 5] [--calls 4000]
"""

from __future__ import annotations

import argparse
import asyncio

from pyinstrument import Profiler

from ._peers import Sdk
from ._server import Server


async def _profile(base: str, conc: int, calls: int) -> str:
    async with Sdk(base, "bench-token") as sdk:
        await asyncio.gather(*(sdk.call() for _ in range(conc)))

        async def worker() -> None:
            for _ in range(calls // conc):
                await sdk.call()

        profiler = Profiler(interval=0.0002, async_mode="disabled")
        profiler.start()
        await asyncio.gather(*(worker() for _ in range(conc)))
        profiler.stop()
    return profiler.output_text(unicode=False, color=False, show_all=False)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_sdk")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--calls", type=int, default=4000)
    args = parser.parse_args()
    with Server() as server:
        print(asyncio.run(_profile(server.url(args.keys), args.concurrency, args.calls)))


if __name__ == "__main__":
    main()
