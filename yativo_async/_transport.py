"""The I/O seam: one async method over plain values.

Rules for every transport (each has a test in ``tests/test_transports.py``):

1. A transport only moves bytes. Auth, rate limits, retries and decoding all live above it
   (``_pipeline.py``), so every transport gets them. An HTTP error status, a 1xx/3xx or an
   odd one, is a normal `Response`: redirects are never followed (the Authorization header
   must not travel to another host, and a 3xx is for the client to judge).
2. It raises only `YativoError`s: `APIConnectionError`/`APITimeoutError` translated from its
   library's errors (anything foreign included), once, with ``raise ... from exc``;
   `ResponseTooLargeError` for a body past the cap. The one exception is a header that cannot
   be sent (a control character in it): `ValueError` before sending, naming the header but
   never showing its value (it may be a token).
3. ``request.timeout`` bounds the whole exchange, the body included, however slowly a server
   drips it.
4. A body is read in a streaming way and stops at ``request.max_response_bytes`` (default
   `DEFAULT_MAX_RESPONSE_BYTES`) counted after decompression, so memory per response is
   bounded whatever the server sends (endless bodies, compression bombs).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import zlib
from collections.abc import Awaitable, Callable, Container, Iterator, Mapping
from types import CodeType
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from ._errors import APIConnectionError, APITimeoutError, ResponseDecodeError, ResponseTooLargeError
from ._salvage import SCAN_CAP, salvage_secret
from ._twin import twin

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "HIDDEN_HEADERS",
    "LowerHeaders",
    "MockTransport",
    "Request",
    "Response",
    "Transport",
    "check_headers",
    "closed_error",
    "response_cap",
    "scrub",
    "head_of",
    "refuse_early",
    "too_large",
]

#: the body cap when a request names none: far above any documented answer (a key list of a
#: few thousand keys is well under 1 MiB), far below what hurts a process
DEFAULT_MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024

#: headers that carry secrets: masked in reprs and in what a library's error keeps
HIDDEN_HEADERS: Final = frozenset({"authorization", "x-2fa-token"})


def _mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in HIDDEN_HEADERS else v) for k, v in headers.items()}


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
    #: the longest body accepted, in bytes after decompression (None: the transport default,
    #: `DEFAULT_MAX_RESPONSE_BYTES`); past it the transport raises `ResponseTooLargeError`
    max_response_bytes: int | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class Response:
    """One HTTP response. Header names are lower case."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = attrs.field(default=b"", repr=lambda b: f"<{len(b)} bytes>")


class LowerHeaders(Mapping[str, str]):
    """An HTTP library's case-insensitive response headers as the lower-case mapping
    `Response.headers` promises, without copying them for every response.

    Lookups (``[]``, ``get``, ``in``) go straight to the library's multidict: any case
    finds a header, and a repeated one gives its values joined by ``", "``. Iterating
    gives the lower-case names; the lower-case dict behind ``len``, ``==``, ``repr`` and
    iteration is made on the first of those. Most calls only look up a request id and
    the rate-limit headers, which cost less than the copy (about 8,000 instructions for a
    handful of headers). ``dict(headers)`` gives a plain dict.

    ``raw`` needs ``getall(name, default)``, ``items()`` and a ``keys()`` view whose
    ``isdisjoint`` ignores case (``multidict.CIMultiDictProxy``, as aiohttp gives).
    """

    __slots__ = ("_dict", "_raw")

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._dict: dict[str, str] | None = None

    def _lowered(self) -> dict[str, str]:
        lowered = self._dict
        if lowered is None:
            lowered = {}
            for name, value in self._raw.items():
                key = name.lower()
                lowered[key] = f"{lowered[key]}, {value}" if key in lowered else value
            self._dict = lowered
        return lowered

    def __getitem__(self, name: str) -> str:
        values = self._raw.getall(name, None) if isinstance(name, str) else None
        if values is None:
            raise KeyError(name)
        return values[0] if len(values) == 1 else ", ".join(values)

    def get(self, name: str, default: Any = None) -> Any:
        values = self._raw.getall(name, None) if isinstance(name, str) else None
        if values is None:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._lowered())

    def __len__(self) -> int:
        return len(self._lowered())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._lowered() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._lowered())

    def any_of(self, names: frozenset[str]) -> bool:
        """Whether any of the lower-case ``names`` is present (without the copy)."""
        return not self._raw.keys().isdisjoint(names)


_RESPONSE_TWIN: Final = twin(Response)
_new: Final = object.__new__


def response_of(status: int, raw: Any, body: bytes) -> Response:
    """``make_response(status, LowerHeaders(raw), body)`` without a call to
    ``LowerHeaders.__init__``: the aiohttp transport's, once per response."""
    headers: LowerHeaders = _new(LowerHeaders)
    headers._raw = raw
    headers._dict = None
    return make_response(status, headers, body)


def make_response(status: int, headers: Mapping[str, str], body: bytes) -> Response:
    """``Response(status=..., headers=..., body=...)`` as the SDK's own transports build it:
    one per call, so built as `_twin` describes (three slot stores, not three calls)."""
    if _RESPONSE_TWIN is None:  # pragma: no cover - every supported CPython allows it
        return Response(status=status, headers=headers, body=body)
    response = _RESPONSE_TWIN()
    response.status = status
    response.headers = headers
    response.body = body
    response.__class__ = Response
    return response  # type: ignore[no-any-return]


@runtime_checkable
class Transport(Protocol):
    """Send a request, get a response; close. That is all a backend has to do."""

    async def send(self, request: Request) -> Response:
        """Send one request and return its response; an HTTP error status is a normal
        `Response`.

        Raises:
            APIConnectionError: the request did not complete (`APITimeoutError` when it
                timed out).
        """
        ...

    async def aclose(self) -> None:
        """Release connections; idempotent."""
        ...


Handler = Callable[[Request], Awaitable[Response] | Response]

# RFC 9110 field names are tokens; values may hold visible characters, spaces and tabs.
# aiohttp and h11 each refuse some control characters at send time with their own errors
# (aiohttp's ValueError, h11's LocalProtocolError), and neither is a YativoError; checking
# here gives every transport one clear error that never shows the value.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse a header that cannot be sent, with a `ValueError` that names it and never
    shows its value (Authorization and X-2FA-Token carry secrets)."""
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid HTTP header name {name!r}")
        if not isinstance(value, str):
            raise TypeError(f"HTTP header {name!r} must be a str, not {type(value).__name__}")
        if _BAD_VALUE.search(value):
            raise ValueError(
                f"HTTP header {name!r} holds a control character (CR, LF, NUL or another); "
                "it cannot be sent (the value is not shown: it may be a secret)"
            )


#: secrets shorter than this are not masked: a 2FA code has 6 digits, and a (test) token
#: "e" masked would turn a server's "Unauthenticated" into "Unauth***nticat***d"
MASK_MIN: Final = 6


def scrub(text: str, request: Request) -> str:
    """``text`` (a library's error message, which may quote what a server sent back) with
    the request's own secrets masked: the bearer token and the 2FA code it carried. A
    hostile server can echo them in a malformed status line or header."""
    for name, value in request.headers.items():
        if name.lower() in HIDDEN_HEADERS and value:
            secret = value.split(" ", 1)[1] if value.startswith("Bearer ") else value
            if len(secret) >= MASK_MIN:  # as `mask_secrets` does
                text = text.replace(secret, "***")
    return text


def closed_error() -> APIConnectionError:
    """What a request on a closed transport gets: nothing was sent."""
    return APIConnectionError("transport is closed", maybe_sent=False)


def cut_while_connecting(exc: BaseException, connecting: Container[CodeType]) -> bool:
    """Whether a timeout cut its request while the HTTP library was still getting it a
    connection (a pooled one, waiting for one to come free, or a new one): then nothing of
    it was sent. The timeout cancels the task and raises ``TimeoutError`` from that
    cancellation, whose traceback runs down to where the task was waiting; one of the
    ``connecting`` functions among those frames means before the request was written.
    Anything else (or a library that no longer says so): maybe sent, the safe side.

    Python 3.10's ``wait_for`` raises from a fresh ``CancelledError`` whose ``__context__``
    is the one with the task's frames: cancellations are followed down that chain."""
    cancelled = exc.__cause__ or exc.__context__
    for _ in range(4):  # a short chain of cancellations; anything else stops the walk
        if not isinstance(cancelled, asyncio.CancelledError):
            return False
        tb = cancelled.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code in connecting:
                return True
            tb = tb.tb_next
        cancelled = cancelled.__context__
    return False


def response_cap(request: Request) -> int:
    cap = request.max_response_bytes
    return DEFAULT_MAX_RESPONSE_BYTES if cap is None else cap


def too_large(
    request: Request, cap: int, status: int | None, head: bytes = b""
) -> ResponseTooLargeError:
    """The error for a body past ``cap``. ``head``: what was read of it, up to the cap; a
    new key's secret in it is kept on the error (the key exists: its only copy)."""
    error = ResponseTooLargeError(
        f"{request.method} response body is larger than max_response_bytes={cap} "
        "(counted after decompression); reading stopped there",
        limit=cap,
        status=status,
    )
    salvaged = salvage_secret(head, whole=False) if head else None
    if salvaged is None:
        return error
    kept = error.with_secret(*salvaged)
    assert isinstance(kept, ResponseTooLargeError)
    return kept


def head_of(chunks: list[bytes], size: int = SCAN_CAP) -> bytes:
    """The first ``size`` bytes of ``chunks`` joined (no copy of the rest)."""
    out: list[bytes] = []
    for chunk in chunks:
        out.append(chunk[:size])
        size -= len(out[-1])
        if size <= 0:
            break
    return b"".join(out)


def refuse_early(request: Request) -> bool:
    """Whether a body declared longer than the cap is refused before reading it: not for a
    request that may create a key (its answer's secret, read up to the cap, is kept)."""
    return request.method == "GET"


class _Stage:
    __slots__ = ("name", "obj", "raw_fallback")

    def __init__(self, name: str) -> None:
        self.name = name
        # deflate: try the zlib wrapper first; some servers send raw deflate (httpx allows it)
        self.raw_fallback = name == "deflate"
        wbits = zlib.MAX_WBITS if name == "deflate" else zlib.MAX_WBITS | 16  # | 16: gzip
        self.obj = zlib.decompressobj(wbits)


class BoundedDecoder:
    """``Content-Encoding`` decoding (gzip, deflate) that never makes more than ``cap`` bytes.

    For transports whose library inflates a whole network read at once (httpx: one 64 KiB
    read of a gzip bomb is ~64 MiB out), each zlib call gets a ``max_length`` of what is left
    under the cap, so memory stays bounded by the cap however the input expands.
    """

    def __init__(self, encoding: str | None, cap: int, request: Request, status: int) -> None:
        self._cap = cap
        self._request = request
        self._status = status
        self._size = 0
        self._chunks: list[bytes] = []
        self._stages: list[_Stage] = []
        # Encodings are listed in the order they were applied: undo them in reverse.
        for name in reversed([e.strip().lower() for e in (encoding or "").split(",")]):
            if name in ("gzip", "x-gzip", "deflate"):
                self._stages.append(_Stage(name))
            elif name not in ("", "identity"):
                raise ResponseDecodeError(
                    f"response has an unsupported Content-Encoding {name[:40]!r}",
                    status=status,
                )

    def feed(self, data: bytes) -> None:
        for stage in self._stages:
            data = self._inflate(stage, data)
            if not data:
                return
        self._size += len(data)
        if self._size > self._cap:
            raise too_large(self._request, self._cap, self._status, self._head(data))
        self._chunks.append(data)

    def _head(self, *more: bytes) -> bytes:
        """The first MiB decoded (for `too_large`'s secret search)."""
        return head_of([*self._chunks, *more])

    def _inflate(self, stage: _Stage, data: bytes) -> bytes:
        out: list[bytes] = []
        made = 0
        while data and not stage.obj.eof:  # bytes after the end of the stream are ignored
            # One byte more than is left: enough to tell "too large" from "exactly full".
            room = self._cap - self._size - made + 1
            try:
                piece = stage.obj.decompress(data, room)
            except zlib.error as exc:
                if stage.raw_fallback:
                    stage.raw_fallback = False
                    stage.obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise ResponseDecodeError(
                    f"response body is not valid {stage.name} data ({str(exc)[:80]})",
                    status=self._status,
                ) from None
            stage.raw_fallback = False
            made += len(piece)
            if self._size + made > self._cap:
                raise too_large(self._request, self._cap, self._status,
                                self._head(*out, piece))
            out.append(piece)
            data = stage.obj.unconsumed_tail
        return b"".join(out)

    def finish(self) -> bytes:
        """The decoded body. A compressed stream cut short is left for the JSON decoder to
        refuse, as the libraries do."""
        return b"".join(self._chunks)


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
        """Call the handler with ``request`` and return its `Response` (an async handler is bounded
        by ``request.timeout``).

        Raises:
            APITimeoutError: an async handler ran past ``request.timeout``.
            ResponseTooLargeError: the body passed ``request.max_response_bytes``.
            TypeError: the handler returned something other than a `Response`.
        """
        check_headers(request.headers)
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
        cap = response_cap(request)
        if len(result.body) > cap:
            raise too_large(request, cap, result.status, head_of([result.body]))
        headers = result.headers
        if not isinstance(headers, dict) or any(name != name.lower() for name in headers):
            # A handler written from the docs says "Retry-After", "X-Request-Id" (or gives
            # a multidict with a name twice): the client reads lower-case names, one value
            # each, repeated ones joined by ", " (as every HTTP library's transport gives
            # them); the same value twice is one value.
            lowered: dict[str, str] = {}
            for name, value in headers.items():
                key = name.lower()
                seen = lowered.get(key)
                if seen is None:
                    lowered[key] = value
                elif value not in seen.split(", "):
                    lowered[key] = f"{seen}, {value}"
            result = make_response(result.status, lowered, result.body)
        return result

    async def aclose(self) -> None:
        """Nothing to close; present for the `Transport` protocol."""
        return None

    def __repr__(self) -> str:
        return f"MockTransport({getattr(self._handler, '__name__', 'handler')})"
