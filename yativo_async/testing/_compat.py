"""A temporary shim for aioresponses on aiohttp >= 3.14.

TEMPORARY: remove once aioresponses builds responses on aiohttp 3.14 itself. Upstream issue
pnuckowski/aioresponses#289 ("issue with aiohttp-3.14"; the fix under review is PR #288).

aiohttp 3.14 (a security release) added a required keyword-only ``stream_writer`` argument
to ``ClientResponse.__init__``; aioresponses 0.7.x does not pass it, so every mocked request
fails with ``TypeError: ... missing 1 required keyword-only argument: 'stream_writer'``, and
so does a user's own ``response_class=`` (a ``ClientResponse`` subclass, a documented
aioresponses feature).

Rules of this module:

1. Detect the broken behaviour, never a version string: `fix_aioresponses()` asks
   aioresponses to build one response of a throwaway ``ClientResponse`` subclass. If that
   works (aiohttp < 3.14, or an aioresponses release with the fix) the shim does nothing, so
   it turns itself off once upstream is fixed, with no edit here.
2. Patch one seam, keep the user's class: the patched ``RequestMatch._build_response`` hands
   aioresponses a factory that calls the class it was given (``ClientResponse`` or the
   user's ``response_class``) with a stand-in ``stream_writer``; the response is an instance
   of exactly that class.
3. Idempotent: a second call finds its own marker and returns False.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["fix_aioresponses"]

_MARKER = "_yativo_stream_writer_shim"


class _NoUpload:
    """Stands in for the request's stream writer. aiohttp only reads ``output_size`` (the
    bytes uploaded) from it when the request is already sent; a mocked request sent none."""

    output_size = 0


def _with_stream_writer(response_class: type[Any]) -> Callable[..., Any]:
    def build(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("stream_writer", _NoUpload())
        return response_class(*args, **kwargs)

    return build


def _builds_responses(request_match: type[Any], client_response: type[Any]) -> bool:
    """True when aioresponses can build a response of a ``ClientResponse`` subclass as is."""
    from yarl import URL

    probe = type("_ProbeResponse", (client_response,), {})
    url = "http://probe.invalid/"
    try:
        request_match(url)._build_response(URL(url), response_class=probe)
    except TypeError:
        return False
    return True


def fix_aioresponses() -> bool:
    """Make aioresponses work on aiohttp >= 3.14, until upstream does (temporary shim for
    pnuckowski/aioresponses#289).

    Call it once before mocking, e.g. at the top of ``conftest.py``. A user's own
    ``response_class=`` works too.

    Returns:
        True if the patch was applied now; False if aioresponses is not installed, already
        works (aiohttp < 3.14 or a fixed aioresponses release), or was patched before.
    """
    try:
        from aiohttp import ClientResponse
        from aioresponses.core import RequestMatch
    except ImportError:
        return False
    # Typed loosely: the wrapper hands it a factory where aioresponses annotates a class.
    original: Callable[..., Any] = RequestMatch._build_response
    if getattr(original, _MARKER, False):
        return False
    if _builds_responses(RequestMatch, ClientResponse):
        return False

    @functools.wraps(original)
    def _build_response(
        self: Any, url: Any, *args: Any, response_class: type[Any] | None = None, **kwargs: Any
    ) -> Any:
        factory = _with_stream_writer(response_class or ClientResponse)
        return original(self, url, *args, response_class=factory, **kwargs)

    setattr(_build_response, _MARKER, True)
    setattr(RequestMatch, "_build_response", _build_response)  # noqa: B010 (a method patch)
    return True
