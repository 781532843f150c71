"""The ``yativo`` command (extra ``cli``: click and rich)."""

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

    cli()
