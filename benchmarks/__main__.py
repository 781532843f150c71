"""``python -m benchmarks [FIGURE ...] [--quick] [--rounds N]``: every figure of issue 11,
side by side with its peers in one run; prints the tables (best round, with the median and
worst of the rounds) and writes ``benchmarks/results.json`` (a figure run alone replaces
only its own entry). Figures: cpu, decode, queue, limiter, day, redis.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import fig_capacity, fig_cpu, fig_decode, fig_limiter, fig_queue, fig_redis

FIGURES: dict[str, Callable[..., dict[str, Any]]] = {
    "cpu": fig_cpu.run,
    "decode": fig_decode.run,
    "queue": fig_queue.run,
    "limiter": fig_limiter.run,
    "day": fig_capacity.run,
    "redis": fig_redis.run,
}
RESULTS = Path(__file__).with_name("results.json")


def _ok(targets: dict[str, bool]) -> str:
    return "\n".join(f"  [{'met' if v else 'MISSED'}] {k}" for k, v in targets.items())


def _print_cpu(r: dict[str, Any]) -> None:
    print(r["title"])
    names = list(r["cells"][0]["cpu_us"])
    print(f"{'conc':>4} {'keys':>4}  " + "  ".join(f"{n:>30}" for n in names)
          + "   SDK/aiohttp (best; paired median)")
    for c in r["cells"]:
        cols = []
        for n in names:
            s = c["cpu_us"][n]
            cols.append(f"{s['best']:7.1f} µs ({s['median']:6.1f}..{s['worst']:6.1f})")
        print(f"{c['concurrency']:>4} {c['keys']:>4}  " + "  ".join(f"{x:>30}" for x in cols)
              + f"   {c['cpu_vs_aiohttp']['YativoClient']:5.2f}x"
              + (f"; {c['sdk_cpu_vs_aiohttp_paired']:.2f}x"
                 if "sdk_cpu_vs_aiohttp_paired" in c else ""))
    print("calls per second (best round) and SDK / aiohttp")
    for c in r["cells"]:
        cols = [f"{c['calls_per_s'][n]['best']:10.0f}" for n in names]
        print(f"{c['concurrency']:>4} {c['keys']:>4}  " + "  ".join(f"{x:>30}" for x in cols)
              + f"   {c['rps_vs_aiohttp']['YativoClient']:5.2f}x")
    w = r["worst_cell"]
    print(f"worst cell: {w['concurrency']}-way, {w['keys']} keys: "
          f"{w['sdk_cpu_vs_aiohttp']:.2f}x hand-written aiohttp")


def _print_decode(r: dict[str, Any]) -> None:
    print(r["title"])
    for name, s in r["rows"].items():
        print(f"  {name:32} {s['best']:8.1f} µs (med {s['median']:.1f}, max {s['worst']:.1f})")
    print("  SDK / json.loads {sdk_vs_json_loads:.2f}x, SDK / pydantic {sdk_vs_pydantic:.2f}x"
          .format(**r["ratios"]))
    if "sdk_no_extra_vs_json_loads" in r["ratios"]:
        print("  without the speedups extra: / json.loads {sdk_no_extra_vs_json_loads:.2f}x, "
              "/ pydantic {sdk_no_extra_vs_pydantic:.2f}x".format(**r["ratios"]))


def _print_queue(r: dict[str, Any]) -> None:
    print(r["title"])
    for name, mb in r["memory_mb"].items():
        print(f"  {name:52} {mb:7.1f} MB")
    print("  CPU per acquire+release with N waiters queued at once (virtual time):")
    for n, s in r["wake_us_virtual"].items():
        print(f"    {int(n):>7,} waiters  {s['best']:6.1f} µs (med {s['median']:.1f}, max {s['worst']:.1f})")
    print("  10,000 waiters in real time (500 per 50 ms):")
    for name, s in r["wake_us_real_10k"].items():
        print(f"    {name:14} {s['best']:6.1f} µs (med {s['median']:.1f}, max {s['worst']:.1f})")


def _print_limiter(r: dict[str, Any]) -> None:
    print(r["title"])
    print(f"  {'limiter':36} {'429s':>5} {'ok':>5} {'elapsed s':>10} {'pace vs ideal':>14}")
    for d in r["demand"]:
        print(f"  {d['limiter']:36} {d['server_429s']:>5} {d['succeeded']:>5} "
              f"{d['elapsed_s']:>10} {d['pace_vs_ideal']:>14}")
    print("  CPU per acquire+release, uncontended:")
    for name, s in r["acquire_us"].items():
        print(f"    {name:28} {s['best']:6.2f} µs (med {s['median']:.2f}, max {s['worst']:.2f})")


def _print_day(r: dict[str, Any]) -> None:
    print(r["title"])
    print(f"  {r['wall_s']:.1f} s wall, {r['answered_200']} answered 200, {r['server_429s']} "
          f"server 429s, {r['token_exchanges']} token exchanges")


def _print_redis(r: dict[str, Any]) -> None:
    print(r["title"])
    if "skipped" in r:
        print("  skipped:", r["skipped"])
        return
    for name, s in r["slots_per_s"].items():
        print(f"  {name:26} {s['best']:10.0f} slots/s")
    print(f"  Redis script calls (round trips) per slot: {r['redis_script_calls_per_slot']:.2f}")


PRINTERS = {"cpu": _print_cpu, "decode": _print_decode, "queue": _print_queue,
            "limiter": _print_limiter, "day": _print_day, "redis": _print_redis}


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("figures", nargs="*", choices=[*FIGURES, []], metavar="FIGURE",
                        help=f"any of {', '.join(FIGURES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 7, quick 3)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    figures = args.figures or list(FIGURES)
    rounds = args.rounds or (3 if args.quick else 7)
    old: dict[str, Any] = {}
    if args.output.exists():
        try:
            old = json.loads(args.output.read_text())
        except ValueError:
            old = {}
    results = old.get("figures", {}) if isinstance(old, dict) else {}
    info = machine()
    print(f"{info['nproc']} CPUs, Python {info['python']} ({info['platform']}); "
          f"load average at start {info['load_average'][0]:.2f}; "
          f"{'quick, ' if args.quick else ''}{rounds} rounds\n")
    missed = []
    for name in figures:
        started = time.perf_counter()
        try:
            result = FIGURES[name](quick=args.quick, rounds=rounds)
        except Exception as exc:  # one broken figure must not lose the others
            import traceback

            traceback.print_exc()
            result = {"title": name, "error": repr(exc), "targets": {"ran": False}}
            PRINTERS[name] = lambda r: print(r["title"], "failed:", r["error"])
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["quick"] = args.quick
        result["measured_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds")
        result["command"] = " ".join(["python -m benchmarks", *(argv or sys.argv[1:])])
        result["machine"] = info
        results[name] = result
        PRINTERS[name](result)
        print(_ok(result["targets"]))
        print(f"  ({result['seconds']} s)\n", flush=True)
        missed += [f"{name}: {k}" for k, v in result["targets"].items() if not v]
        args.output.write_text(json.dumps({"figures": results}, indent=1, default=str) + "\n")
    print(f"results written to {args.output}")
    if missed:
        print("targets missed:\n  " + "\n  ".join(missed))


if __name__ == "__main__":
    main()
