"""``mypy --strict`` on a small user program (tests/typing/) catches a misspelt permission,
a misspelt ``from_env`` / ``with_options`` option and a wrong priority, and the program
that uses the API correctly type-checks cleanly.

Runs mypy in-process with tests/typing/mypy.ini (strict; the libraries under the package
not followed) and a fresh cache: about 3 s.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"
_IGNORE = re.compile(r"\s*# type: ignore\[([a-z-]+)\]")


def test_mypy_strict_catches_the_typos_and_passes_the_good_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (TYPING / "typos.py").read_text()
    expected: set[tuple[int, str]] = set()
    stripped: list[str] = []
    for number, line in enumerate(source.splitlines(), start=1):
        found = _IGNORE.search(line)
        if found:
            expected.add((number, found.group(1)))
        stripped.append(_IGNORE.sub("", line))
    assert len(expected) >= 8
    bare = tmp_path / "typos_bare.py"
    bare.write_text("\n".join(stripped) + "\n")

    monkeypatch.chdir(ROOT)  # mypy finds this checkout's yativo_async from here
    stdout, stderr, status = mypy_api.run([
        "--config-file", str(TYPING / "mypy.ini"), "--cache-dir", str(tmp_path / "cache"),
        "--strict", "--no-error-summary",
        "--show-error-codes", "--hide-error-context", "--no-pretty",
        str(TYPING / "user_program.py"), str(TYPING / "typos.py"), str(bare),
    ])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    # The program as a user writes it, and typos.py with its ignores, are clean: an ignore
    # mypy did not need would be reported (warn_unused_ignores, part of --strict).
    assert not [e for e in errors if "typos_bare.py" not in e], stdout + stderr
    # Without the ignores, each typo is an error of the expected kind on its line.
    reported = set()
    for line in errors:
        match = re.search(r"typos_bare\.py:(\d+):(?:\d+:)? error: .*\[([a-z-]+)\]$", line)
        assert match, line
        reported.add((int(match.group(1)), match.group(2)))
    assert reported == expected, stdout
    assert status == 1
