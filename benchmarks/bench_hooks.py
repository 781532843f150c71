"""What observing costs: client CPU per call with no hooks, with a no-op sync hook on every
event, with `OpenTelemetry` (API only, and with the SDK recording), and through the blocking
facade. Each variant runs 50 concurrent workers against an in-process transport that answers
at once, so the client's own CPU is all that is measured (the worst case for hooks: a real
network makes every ratio closer to 1). Variants are interleaved; best of the rounds.

Run:  python benchmarks/bench_hooks.py [--calls 20000] [--rounds 5] [--only none]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import yativo_async as y

BODY = b'{"keys": [' + b",".join(
    b'{"id": "key_%d", "name": "k", "permissions": ["read"], "status": "active", '
    b'"created_at": "2026-01-01T00:00:00Z"}' % i for i in range(5)
) + b"]}"
RESPONSE = y.Response(status=200, headers={"x-request-id": "r"}, body=BODY)


async def answer(request: y.Request) -> y.Response:
    return RESPONSE


def client(hooks: Any = None) -> y.YativoClient:
    extra = {} if hooks is None else {"hooks": hooks}
    return y.YativoClient(access_token="t", transport=y.MockTransport(answer), rate_limits=[],
                          **extra)


def noop(event: object) -> None:
    return None


def every_event() -> y.Hooks:
    return y.Hooks(on_request=noop, on_response=noop, on_retry=noop, on_rate_limit_wait=noop,
                   on_token_exchange=noop, on_call_end=noop)


def otel_api() -> Any:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    return y.OpenTelemetry(tracer_provider=NoOpTracerProvider(),
                           meter_provider=NoOpMeterProvider())


def otel_sdk() -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    return y.OpenTelemetry(tracer_provider=TracerProvider(), meter_provider=MeterProvider())


async def run_async(make: Callable[[], Any], calls: int, workers: int = 50) -> float:
    async with client(make()) as c:
        await c.api_keys.list()  # warm

        async def worker(n: int) -> None:
            for _ in range(n):
                await c.api_keys.list()

        t0 = time.process_time()
        await asyncio.gather(*(worker(calls // workers) for _ in range(workers)))
        return (time.process_time() - t0) / calls * 1e6


async def run_async_one_caller(calls: int) -> float:
    async with client() as c:
        await c.api_keys.list()
        t0 = time.perf_counter()
        for _ in range(calls):
            await c.api_keys.list()
        return (time.perf_counter() - t0) / calls * 1e6


def run_sync(calls: int) -> float:
    from yativo_async.sync import YativoClient

    with YativoClient(access_token="t", transport=y.MockTransport(answer),
                      rate_limits=[]) as c:
        c.api_keys.list()
        # The facade's cost is a thread hop per call: wall time, one caller (a script).
        t0 = time.perf_counter()
        for _ in range(calls):
            c.api_keys.list()
        return (time.perf_counter() - t0) / calls * 1e6


VARIANTS: dict[str, Callable[[], Any]] = {
    "none": lambda: None,
    "hooks": every_event,
    "otel-api": otel_api,
    "otel-sdk": otel_sdk,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=[*VARIANTS, "sync"])
    args = parser.parse_args()
    names = [args.only] if args.only else [*VARIANTS, "sync"]
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name in names:
            if name == "sync":
                # the peer: the same calls, one at a time, awaited on a loop (wall time)
                peer = asyncio.run(run_async_one_caller(args.calls // 10))
                best["async-1"] = min(peer, best.get("async-1", float("inf")))
                us = run_sync(args.calls // 10)
            else:
                us = asyncio.run(run_async(VARIANTS[name], args.calls))
            best[name] = min(us, best.get(name, float("inf")))
    print(f"{'variant':<10} {'us/call':>9} {'ratio':>8}")
    for name in names:
        if name == "sync":
            print(f"{'async-1':<10} {best['async-1']:>9.1f} {'1.00x':>8}  (wall, one awaiting "
                  "caller)")
            print(f"{'sync':<10} {best['sync']:>9.1f} {best['sync'] / best['async-1']:>7.2f}x"
                  "  (wall, one blocking caller, vs async-1)")
            continue
        base = best.get("none")
        ratio = f"{best[name] / base:.2f}x" if base else "-"
        print(f"{name:<10} {best[name]:>9.1f} {ratio:>8}  (CPU, 50 workers, vs none)")


if __name__ == "__main__":
    main()
