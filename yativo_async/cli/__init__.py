"""The ``yativo`` command (extra ``cli``: click and rich). Exit codes: see ``_app.py``."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
    except ImportError:
        sys.stderr.write(
            "The yativo command needs the 'cli' extra: pip install 'yativo-async[cli]'\n"
        )
        raise SystemExit(2) from None
    from ._app import cli

    # prog_name: the same usage line under `python -m yativo_async.cli` as under `yativo`.
    cli(prog_name="yativo")
