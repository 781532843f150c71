"""README "Performance" holds what the last benchmark run measured, nothing typed by hand:
the section between its markers is exactly what ``python -m benchmarks.readme`` renders
from ``benchmarks/results.json`` (rerun it with ``--write`` after ``python -m benchmarks``)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.readme import END, START, section

ROOT = Path(__file__).resolve().parent.parent


def test_readme_performance_is_rendered_from_results_json() -> None:
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(START), readme.index(END) + len(END)
    assert readme[start:end] == section(results)


def test_every_figure_in_results_json_is_rendered() -> None:
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    assert set(results["figures"]) == {"cpu", "decode", "queue", "limiter", "day", "redis"}
    text = section(results)
    for cell in results["figures"]["cpu"]["cells"]:
        assert f"| {cell['concurrency']} | {cell['keys']} |" in text
