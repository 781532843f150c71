"""A shim for aioresponses on aiohttp >= 3.14.

aiohttp 3.14 (a security release) added a required ``stream_writer`` argument to
``ClientResponse``; aioresponses 0.7.x does not pass it (upstream issue
pnuckowski/aioresponses#289, open), so every mocked request fails with a ``TypeError``.
`fix_aioresponses()` makes aioresponses build responses that accept it. It is a no-op when
aioresponses is missing or already compatible.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["fix_aioresponses"]


class _NoUpload:
    """Stands in for the request's stream writer: a mocked request uploaded nothing."""

    output_size = 0


def fix_aioresponses() -> bool:
    """Patch aioresponses for aiohttp >= 3.14. Returns True if a patch was applied."""
    try:
        import aioresponses.core as core
        from aiohttp import ClientResponse
    except ImportError:
        return False
    if getattr(core, "_yativo_fixed", False):
        return False
    if "stream_writer" not in inspect.signature(ClientResponse.__init__).parameters:
        return False

    class CompatClientResponse(ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", _NoUpload())
            super().__init__(*args, **kwargs)

    core.ClientResponse = CompatClientResponse  # type: ignore[attr-defined]
    core._yativo_fixed = True  # type: ignore[attr-defined]
    return True
