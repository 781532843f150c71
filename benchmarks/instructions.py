"""Client instructions per ``api_keys.list()`` call, SDK against hand-written aiohttp, counted
by valgrind (callgrind): a figure that a shared, noisy machine does not move, to tell what a
change to the hot path is worth when CPU times drift by 20 % between rounds.

Each client runs in its own process under valgrind, once with no measured calls and once
with ``--calls``; the difference divided by the calls is its cost per call (start-up, imports
and warm-up cancel out). The server runs in its own process, not under valgrind.

Run:  python -m benchmarks.instructions [--keys 5] [--concurrency 50] [--calls 1000]
(needs ``valgrind``; about two minutes per cell)
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys


def _child(which: str, calls: int, keys: int, conc: int) -> None:
    from ._peers import RawAiohttp, Sdk
    from ._server import Server

    cls = Sdk if which == "sdk" else RawAiohttp

    async def run(base: str) -> None:
        async with cls(base, "bench-token") as client:
            await asyncio.gather(*(client.call() for _ in range(conc)))  # warm

            async def worker() -> None:
                for _ in range(calls // conc):
                    await client.call()

            await asyncio.gather(*(worker() for _ in range(conc)))

    with Server() as server:
        asyncio.run(run(server.url(keys)))


def _count(which: str, calls: int, keys: int, conc: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         "-m", "benchmarks.instructions", "--child", which, str(calls), str(keys), str(conc)],
        capture_output=True, text=True, check=True,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        which, calls, keys, conc = args.child
        _child(which, int(calls), int(keys), int(conc))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    per_call = {}
    for which in ("aiohttp", "sdk"):
        base = _count(which, 0, args.keys, args.concurrency)
        full = _count(which, args.calls, args.keys, args.concurrency)
        per_call[which] = (full - base) / args.calls
    ratio = per_call["sdk"] / per_call["aiohttp"]
    print(f"{args.concurrency}-way, {args.keys} keys, {args.calls} calls: instructions per call "
          f"aiohttp + json.loads {per_call['aiohttp']:,.0f}, YativoClient "
          f"{per_call['sdk']:,.0f}: {ratio:.3f}x")


if __name__ == "__main__":
    main()
