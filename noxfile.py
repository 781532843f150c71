"""The test matrix: `nox` runs the suite on every Python the package claims, once on uvloop,
then the linters and the documentation build. `.ci/run` runs all of it.

    nox -s tests-3.12        # one Python
    nox -s uvloop lint docs  # the rest
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = [*(f"tests-{v}" for v in PYTHONS), "uvloop", "lint", "docs"]
# uv builds each environment in seconds; plain virtualenv + pip when uv is not installed.
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"


def _expose_pyenv_interpreters() -> None:
    """Development machines keep each Python under pyenv, where the `python3.10` shim fails
    unless that version is made global. Put a direct link to each installed interpreter
    first on PATH so nox finds them all without touching pyenv's settings."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    links = Path(tempfile.mkdtemp(prefix="yativo-nox-pythons-"))
    for version in PYTHONS:
        found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
        if found:
            (links / f"python{version}").symlink_to(found[-1])
    if any(links.iterdir()):
        os.environ["PATH"] = f"{links}{os.pathsep}{os.environ['PATH']}"
    else:
        shutil.rmtree(links)


_expose_pyenv_interpreters()


def _install_dev(session: nox.Session, extras: str = "dev") -> None:
    # The README's install command, in this session's environment.
    session.install("-e", f".[{extras}]")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The README's test command on one Python (the suite's virtual-time tests included)."""
    _install_dev(session)
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(python="3.12")
def uvloop(session: nox.Session) -> None:
    """The suite on uvloop (`--loop uvloop`): the loop users' web servers often run on.
    Virtual-time tests need asyncio's own loop and are skipped here; they run above. With
    the `speedups` extra: the suite runs once on its decoding paths (tests/test_speedups.py
    compares them with the standard ones), the sessions above run without it."""
    _install_dev(session, "dev,speedups")
    session.run("python", "-m", "pytest", "-q", "--loop", "uvloop", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """mypy --strict on the package and the examples, ruff on everything. The `speedups`
    extra is installed so mypy checks the orjson and msgspec paths against their own types."""
    _install_dev(session, "dev,examples,speedups")
    session.run("python", "-m", "mypy", "--strict", "yativo_async", "examples")
    session.run("python", "-m", "ruff", "check", ".")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The documentation site, every warning an error (broken links, missing docstrings)."""
    _install_dev(session, "docs")
    # NO_MKDOCS_2_WARNING: mkdocs-material prints a banner about its successor on every build
    session.run("python", "-m", "mkdocs", "build", "--strict", "--site-dir", "site",
                env={"NO_MKDOCS_2_WARNING": "1"})
