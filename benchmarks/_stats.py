"""Rounds and their spread: every figure is the best of N interleaved rounds."""

from __future__ import annotations

import statistics
from typing import Any


def summary(samples: list[float]) -> dict[str, Any]:
    """best (the figure), median and worst of the rounds, as measured."""
    return {
        "best": min(samples),
        "median": statistics.median(samples),
        "worst": max(samples),
        "rounds": samples,
    }


def spread(s: dict[str, Any], unit: str = "µs", digits: int = 1) -> str:
    return f"{s['best']:.{digits}f} {unit} (med {s['median']:.{digits}f}, max {s['worst']:.{digits}f})"
