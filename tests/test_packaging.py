"""Packaging metadata: the license ships in the wheel and the project links resolve to files.

Building the wheel needs hatchling from the package index, so this checks the declaration;
`pip wheel --no-deps -w dist .` then shows ``dist-info/licenses/LICENSE`` in the wheel.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _project() -> dict[str, object]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project: dict[str, object] = data["project"]
    return project


def test_license_file_is_declared_and_is_mit() -> None:
    project = _project()
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 yativo_async developers" in text


def test_project_urls() -> None:
    urls = _project()["urls"]
    assert isinstance(urls, dict)
    assert set(urls) >= {"Homepage", "Repository", "Documentation", "Changelog"}
    assert all(u.startswith("https://github.com/yativo/yativo-async") for u in urls.values())


def test_gitignore_keeps_build_output_and_secrets_out() -> None:
    lines = set((ROOT / ".gitignore").read_text(encoding="utf-8").splitlines())
    assert {"__pycache__/", "dist/", "build/", "*.egg-info/", ".venv/", ".env"} <= lines
