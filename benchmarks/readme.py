"""README "Performance", written from ``benchmarks/results.json`` (never by hand: a figure
in the README is the one the last ``python -m benchmarks`` run measured).

Run:  python -m benchmarks.readme [--write]   (prints the section; ``--write`` replaces it
in README.md between its ``--8<-- [start:benchmarks]`` / ``[end:benchmarks]`` markers)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START = "<!-- --8<-- [start:benchmarks] -->"
END = "<!-- --8<-- [end:benchmarks] -->"
SDK = "YativoClient"
AIO = "aiohttp + json.loads"


def _us(value: float) -> str:
    return f"{value:,.0f} µs" if value >= 1000 else f"{value:.1f} µs"


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _cpu(r: dict[str, Any]) -> list[str]:
    names = list(r["cells"][0]["cpu_us"])
    lines = [
        "| concurrency | keys | " + " | ".join(names) + " | SDK / aiohttp (best) "
        "| SDK / aiohttp (paired median) | back-to-back blocks: median (quartiles) |",
        "| ---: | ---: | " + " | ".join("---:" for _ in names) + " | ---: | ---: | ---: |",
    ]
    worst = r["worst_cell"]
    for c in r["cells"]:
        ratio = c["cpu_vs_aiohttp"][SDK]
        mark = (c["concurrency"], c["keys"]) == (worst["concurrency"], worst["keys"])
        shown = f"**{ratio:.2f}x**" if mark else f"{ratio:.2f}x"
        paired = c.get("sdk_cpu_vs_aiohttp_paired")
        blocks = c.get("sdk_cpu_vs_aiohttp_blocks")
        lines.append(
            f"| {c['concurrency']} | {c['keys']} | "
            + " | ".join(_us(c["cpu_us"][n]["best"]) for n in names)
            + f" | {shown} | " + ("-" if paired is None else f"{paired:.2f}x") + " | "
            + ("-" if blocks is None else
               f"{blocks['median']:.2f}x ({blocks['q1']:.2f}-{blocks['q3']:.2f}, "
               f"{blocks['n']} pairs)")
            + " |"
        )
    rps = [c["rps_vs_aiohttp"][SDK] for c in r["cells"] if c["concurrency"] >= 50]
    lines += [
        "",
        f"Target (SDK <= 1.15x hand-written aiohttp in every cell): "
        f"{_met(r['targets']['sdk cpu <= 1.15x aiohttp in every cell'])}, worst cell "
        f"{worst['concurrency']}-way with {worst['keys']} keys at "
        f"{worst['sdk_cpu_vs_aiohttp']:.2f}x. Calls per second at 50 and 500-way: "
        f"{min(rps):.2f}-{max(rps):.2f}x aiohttp (target 0.9x: "
        f"{_met(r['targets']['sdk calls/s >= 0.9x aiohttp at 50 and 500-way'])}).",
    ]
    return lines


def _decode(r: dict[str, Any]) -> list[str]:
    rows, ratios = r["rows"], r["ratios"]
    base = rows["json.loads"]["best"]
    lines = ["| decoding 50 `ApiKey` | CPU per body (best) | vs `json.loads` |",
             "| --- | ---: | ---: |"]
    for name, row in rows.items():
        lines.append(f"| {name.strip()} | {_us(row['best'])} | {row['best'] / base:.2f}x |")
    targets = r["targets"]
    lines += [
        "",
        "Targets: "
        + ", ".join(f"{k}: {_met(v)}" for k, v in targets.items())
        + f" (SDK / pydantic {ratios['sdk_vs_pydantic']:.2f}x with the `speedups` extra"
        + (f", {ratios['sdk_no_extra_vs_pydantic']:.2f}x without" if
           "sdk_no_extra_vs_pydantic" in ratios else "") + ").",
    ]
    return lines


def _queue(r: dict[str, Any]) -> list[str]:
    mem = r["memory_mb"]
    wake = r["wake_us_virtual"]
    real = r["wake_us_real_10k"]
    lines = ["| calls queued for budget | |", "| --- | ---: |"]
    for name, mb in mem.items():
        lines.append(f"| {name}, memory held (tracemalloc) | {mb:,.0f} MB |")
    lines.append("| CPU per acquire+release, " + " / ".join(f"{int(k):,}" for k in wake)
                 + " waiters | " + " / ".join(f"{v['best']:.1f}" for v in wake.values())
                 + " µs |")
    lines.append("| 10,000 waiters in real time: " + " / ".join(real)
                 + " | " + " / ".join(f"{v['best']:.1f}" for v in real.values()) + " µs |")
    lines += ["", "Targets: " + ", ".join(f"{k}: {_met(v)}" for k, v in r["targets"].items())
              + "."]
    return lines


def _limiter(r: dict[str, Any]) -> list[str]:
    parts = [f"{d['limiter']} {d['server_429s']} server 429s at {d['pace_vs_ideal']:.3f} of "
             f"the ideal pace" for d in r["demand"]]
    return [f"{r['title']}: " + "; ".join(parts) + "."]


def _day(r: dict[str, Any]) -> list[str]:
    return [f"{r['title']}: {r['wall_s']:.1f} s of wall time, {r['server_429s']} server 429s, "
            f"{r['token_exchanges']} token exchanges (target < 10 s)."]


def _redis(r: dict[str, Any]) -> list[str]:
    slots = r["slots_per_s"]
    return [f"{r['title']}: " + ", ".join(f"{k} {v['best']:,.0f}" for k, v in slots.items())
            + f"; {r['redis_script_calls_per_slot']:.2f} script calls (round trips) per slot "
            "(one to take, one to release)."]


def section(results: dict[str, Any]) -> str:
    figs = results["figures"]
    cpu = figs["cpu"]
    machine = cpu["machine"]
    out = [
        START,
        "",
        "`python -m benchmarks` (extra `bench`) runs every figure of issue 11 against its "
        "peers in one run, the server in its own process on loopback, best of interleaved "
        "rounds with the median and worst; it writes `benchmarks/results.json`, and "
        "`python -m benchmarks.readme --write` puts its tables here. One figure alone: "
        "`python -m benchmarks cpu` (or `decode`, `queue`, `limiter`, `day`, `redis`); "
        "`--quick` for a short run; `python -m benchmarks.profile_sdk` profiles one cell.",
        "",
        f"Latest run: `{cpu['command']}`, {machine['nproc']} CPUs, Python {machine['python']}, "
        f"{cpu['measured_at'][:10]}, a shared machine (load average "
        f"{machine['load_average'][0]:.1f} at the start). Client CPU per `api_keys.list()` "
        f"call (`time.process_time`), {cpu['cells'][0]['calls']:,} calls per cell and round "
        "(a quarter for httpx beyond 1-way), the clients taking turns in short blocks within "
        "each round (the SDK's block always next to aiohttp's); the best round of each "
        "client, the median of the per-round SDK / aiohttp ratios, and the median and "
        "quartiles of SDK / aiohttp over every pair of blocks run back to back:",
        "",
        *_cpu(cpu),
        "",
    ]
    for name, render in (("decode", _decode), ("queue", _queue), ("limiter", _limiter),
                         ("day", _day), ("redis", _redis)):
        if name in figs:
            out += [*render(figs[name]), ""]
    out.append(END)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme")
    parser.add_argument("--write", action="store_true", help="replace the README section")
    args = parser.parse_args()
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    text = section(results)
    if not args.write:
        print(text)
        return
    readme = ROOT / "README.md"
    old = readme.read_text()
    start, end = old.find(START), old.find(END)
    if start < 0 or end < start:
        sys.exit("README.md has no benchmarks markers")
    readme.write_text(old[:start] + text + old[end + len(END):])


if __name__ == "__main__":
    main()
