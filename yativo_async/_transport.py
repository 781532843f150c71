"""The I/O seam: one async method over plain values.

Rule: a transport only moves bytes. Auth, rate limits, retries and decoding all live above
it (``_pipeline.py``), so every transport gets them. A transport raises only
`APIConnectionError`/`APITimeoutError` (translated from its library's errors, once, with
``raise ... from exc``); an HTTP error status is a normal `Response`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable

import attrs

from ._errors import APITimeoutError

__all__ = ["MockTransport", "Request", "Response", "Transport"]

_HIDDEN_HEADERS = frozenset({"authorization", "x-2fa-token"})


def _mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in _HIDDEN_HEADERS else v) for k, v in headers.items()}


@attrs.frozen(kw_only=True)
class Request:
    """One HTTP request. ``timeout`` (seconds) bounds the whole exchange.

    The repr never shows the body or the auth/2FA headers.
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=lambda h: repr(_mask_headers(h)))
    body: bytes | None = attrs.field(default=None, repr=lambda b: "<hidden>" if b else "None")
    timeout: float | None = None


@attrs.frozen(kw_only=True)
class Response:
    """One HTTP response. Header names are lower case."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = attrs.field(default=b"", repr=lambda b: f"<{len(b)} bytes>")


@runtime_checkable
class Transport(Protocol):
    """Send a request, get a response; close. That is all a backend has to do."""

    async def send(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


Handler = Callable[[Request], Awaitable[Response] | Response]


async def _as_coroutine(awaitable: Awaitable[Response]) -> Response:
    return await awaitable


class MockTransport:
    """A transport with no socket: ``handler(request)`` (sync or async) makes the response.

    An async handler is bounded by ``request.timeout``, as a real transport would be.

    Raise `APIConnectionError`/`APITimeoutError` from the handler to simulate network faults.
    """

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError("MockTransport needs a callable handler(request) -> Response")
        self._handler = handler

    async def send(self, request: Request) -> Response:
        result = self._handler(request)
        if inspect.isawaitable(result):
            try:
                result = await asyncio.wait_for(_as_coroutine(result), request.timeout)
            except asyncio.TimeoutError:
                raise APITimeoutError(
                    f"{request.method} request timed out after {request.timeout} s"
                ) from None
        if not isinstance(result, Response):
            raise TypeError(
                f"MockTransport handler must return a Response, got {type(result).__name__}"
            )
        return result

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"MockTransport({getattr(self._handler, '__name__', 'handler')})"
