"""README "Guarantees" names the tests that hold each promise: every name must exist, so a
renamed or deleted test cannot leave a promise standing on nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _guarantees() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Guarantees")
    return text[start:text.index("\n## ", start + 1)]


def test_every_test_named_in_guarantees_exists() -> None:
    section = _guarantees()
    refs = re.findall(r"`(tests/[\w/]+\.py)((?:::\w+)?)`", section)
    # "`::name`" right after a file reference names another test in that same file
    chained = re.findall(r"`(tests/[\w/]+\.py)::\w+`, `::(\w+)`", section)
    assert len(refs) >= 15
    for path, name in refs + [(p, "::" + n) for p, n in chained]:
        source = (ROOT / path).read_text(encoding="utf-8")
        if name:
            target = name[2:]
            assert re.search(rf"^(async )?def {target}\b|^{target} = ", source, re.M), \
                f"{path}{name} is named in README Guarantees but does not exist"


def test_every_promise_has_a_test() -> None:
    rows = [line for line in _guarantees().splitlines()
            if line.startswith("| ") and not line.startswith(("| promise", "| ---"))]
    assert len(rows) == 8
    for row in rows:
        assert "`tests/" in row.split("|")[3], row
