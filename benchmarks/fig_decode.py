"""Decoding alone: the body of ``GET /apikey/list`` with 50 keys -> 50 models.

Peers in the same run: ``json.loads`` alone (the floor) and pydantic v2's
``TypeAdapter(...).validate_json`` building the same models. Target: the SDK <= 2.5x
``json.loads`` and not slower than pydantic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from yativo_async import _converter
from yativo_async._converter import decode_key_list

from ._payloads import key_list_body
from ._peers import KEY_LIST
from ._stats import summary


def run(*, quick: bool, rounds: int) -> dict[str, Any]:
    body = key_list_body(50)
    contenders: dict[str, Callable[[], Any]] = {
        "json.loads": lambda: json.loads(body),
        "pydantic v2 validate_json": lambda: KEY_LIST.validate_json(body),
        "yativo_async decode_key_list": lambda: decode_key_list(body),
    }
    with_extra = (_converter.fast_loads, _converter.wire_key_list)

    def without_extra() -> Any:
        _converter.fast_loads, _converter.wire_key_list = None, None
        try:
            return decode_key_list(body)
        finally:
            _converter.fast_loads, _converter.wire_key_list = with_extra

    if with_extra != (None, None):
        contenders["yativo_async decode_key_list"] = lambda: decode_key_list(body)
        contenders["  same, no speedups extra (json.loads)"] = without_extra
    n = 300 if quick else 2000
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():  # interleaved: each round runs every contender
            t = time.process_time()
            for _ in range(n):
                fn()
            samples[name].append((time.process_time() - t) / n * 1e6)
    rows = {name: summary(s) for name, s in samples.items()}
    plain = rows.get("  same, no speedups extra (json.loads)")
    floor = rows["json.loads"]["best"]
    pyd = rows["pydantic v2 validate_json"]["best"]
    sdk = rows["yativo_async decode_key_list"]["best"]
    return {
        "title": f"Decoding 50 ApiKey from {len(body):,} bytes: CPU per body, best of {rounds} rounds",
        "rows": rows,
        "speedups_extra": with_extra != (None, None),
        "ratios": {
            "sdk_vs_json_loads": sdk / floor,
            "sdk_vs_pydantic": sdk / pyd,
            **({"sdk_no_extra_vs_json_loads": plain["best"] / floor,
                "sdk_no_extra_vs_pydantic": plain["best"] / pyd} if plain else {}),
        },
        "targets": {
            "sdk_vs_json_loads <= 2.5": sdk / floor <= 2.5,
            "sdk_vs_pydantic <= 1.0": sdk / pyd <= 1.0,
        },
    }
