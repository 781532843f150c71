"""The API reference (docs/reference/, rendered by mkdocstrings) lists every public name."""

from __future__ import annotations

import re
from pathlib import Path

import yativo_async
import yativo_async.testing

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"


def test_every_public_name_is_in_the_api_reference() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in REFERENCE.glob("*.md"))
    listed = set(re.findall(r"^::: (yativo_async[\w.]*)", text, flags=re.M))
    public = {
        f"{module.__name__}.{name}"
        for module in (yativo_async, yativo_async.testing)
        for name in module.__all__
        if not name.startswith("__")
    }
    assert sorted(public - listed) == []
