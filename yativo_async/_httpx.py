"""`HttpxTransport` (extra ``httpx``): the same seam over ``httpx.AsyncClient``.

The rules of ``_transport.py`` hold here too; what httpx needs on top:

* httpx's own timeout bounds each network operation, not the exchange: a server that drips
  one byte per second never trips a read timeout. The whole send runs under one deadline of
  ``request.timeout`` instead.
* httpx inflates a whole network read at once (a 64 KiB read of a gzip bomb is ~64 MiB), so
  the body is read raw (``aiter_raw``) and inflated here by `BoundedDecoder`, which never
  makes more than ``request.max_response_bytes``. ``Accept-Encoding`` asks only for what it
  can inflate.
* ``follow_redirects=False`` on every request, also for a client passed in.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from ._errors import APIConnectionError, APITimeoutError, YativoError
from ._sansio import quoted_failure, redact_text
from ._transport import (
    BoundedDecoder,
    Request,
    Response,
    check_headers,
    closed_error,
    cut_while_connecting,
    make_response,
    refuse_early,
    response_cap,
    scrub,
    too_large,
)

__all__ = ["HttpxTransport"]

_DEFAULT_TIMEOUT: Final = 30.0
_ACCEPT_ENCODING: Final = "gzip, deflate"  # what BoundedDecoder inflates


class HttpxTransport:
    """HTTP over one ``httpx.AsyncClient`` (created lazily; a client passed in is not closed)."""

    def __init__(self, *, client: Any = None, limit: int = 100) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "HttpxTransport needs httpx: pip install 'yativo-async[httpx]'"
            ) from exc
        self._httpx = httpx
        self._connecting = _connecting_code()
        self._client: httpx.AsyncClient | None = client
        self._owns_client = client is None
        self._limit = limit
        self._closed = False

    def _get_client(self) -> Any:
        if self._closed:
            raise closed_error()
        if self._client is None:
            self._client = self._httpx.AsyncClient(
                limits=self._httpx.Limits(max_connections=self._limit),
                follow_redirects=False,
            )
        elif self._client.is_closed:  # the user closed their own client
            raise closed_error()
        return self._client

    async def send(self, request: Request) -> Response:
        """Send ``request`` with httpx, the whole exchange under one deadline.

        Raises:
            APITimeoutError: the request's ``timeout`` ran out.
            APIConnectionError: the connection failed, or the transport is closed.
            ResponseTooLargeError: the body passed ``max_response_bytes`` after decompression.
        """
        httpx = self._httpx
        check_headers(request.headers)
        client = self._get_client()
        timeout = request.timeout if request.timeout is not None else _DEFAULT_TIMEOUT
        try:
            # httpx's timeout is per operation; wait_for makes it one deadline for the whole
            # exchange (a server dripping a byte at a time never trips a read timeout).
            return await asyncio.wait_for(self._exchange(client, request, timeout), timeout)
        except YativoError:
            raise
        except httpx.ConnectTimeout as exc:
            raise APITimeoutError("timed out connecting", maybe_sent=False) from exc
        except httpx.PoolTimeout as exc:
            raise APITimeoutError(
                f"{request.method} request timed out after {timeout} s waiting for a pooled "
                "connection", maybe_sent=False,
            ) from exc
        except asyncio.TimeoutError as exc:
            # The deadline above, or httpx's own timeout beneath it: not sent if it cut the
            # request while httpcore was still getting it a connection.
            raise APITimeoutError(
                f"{request.method} request timed out after {timeout} s",
                maybe_sent=not cut_while_connecting(exc, self._connecting),
            ) from exc
        except httpx.TimeoutException as exc:
            raise APITimeoutError(
                f"{request.method} request timed out after {timeout} s"
            ) from exc
        except httpx.ConnectError as exc:
            raise APIConnectionError(
                f"cannot connect: {redact_text(scrub(str(exc), request))[:200]}",
                maybe_sent=False,
            ) from exc
        except (httpx.TransportError, OSError) as exc:
            text = redact_text(scrub(str(exc), request))[:200]
            failure: YativoError = APIConnectionError(
                f"{request.method} failed: {exc.__class__.__name__}: {text}"
            )
            unchained = quoted_failure(exc, request, failure, request.method, text)
            if unchained is None:
                raise failure from exc
            # h11 quoted a line it refused, and it held a secret: not chained (the quote
            # would reach every traceback); raised below, outside the handler.
            failure = unchained
        except RuntimeError as exc:
            if client.is_closed:  # closed under us (by its owner) while this request ran
                raise closed_error() from exc
            raise _foreign(request, exc) from exc
        except Exception as exc:
            # Anything else httpx or h11 lets out: still only YativoErrors leave a transport.
            # Only the class name is shown; the message could quote what was sent.
            raise _foreign(request, exc) from exc
        raise failure  # (outside the handler: the quoting error is not its __context__)

    async def _exchange(self, client: Any, request: Request, timeout: float) -> Response:
        headers = dict(request.headers)
        if not any(name.lower() == "accept-encoding" for name in headers):
            headers["Accept-Encoding"] = _ACCEPT_ENCODING
        cap = response_cap(request)
        async with client.stream(
            request.method,
            request.url,
            headers=headers,
            content=request.body,
            timeout=timeout,
            follow_redirects=False,
        ) as resp:
            status = resp.status_code
            encoding = resp.headers.get("content-encoding")
            length = resp.headers.get("content-length", "")
            if (encoding is None and length.isascii() and length.isdigit()
                    and int(length) > cap and refuse_early(request)):
                # Declared too long: refuse before reading; leaving the block unread drops
                # the connection instead of draining it.
                raise too_large(request, cap, status)
            decoder = BoundedDecoder(encoding, cap, request, status)
            async for raw in resp.aiter_raw():
                decoder.feed(raw)
            body = decoder.finish()
            await _drop_if_overrun(resp)
            out: dict[str, str] = {}
            for name, value in resp.headers.multi_items():
                key = name.lower()
                out[key] = f"{out[key]}, {value}" if key in out else value
        return make_response(status, out, body)

    async def aclose(self) -> None:
        """Close the httpx client if this transport made it. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        if self._client is not None and self._owns_client:
            await self._client.aclose()
        self._client = None


async def _drop_if_overrun(resp: Any) -> None:
    """A server that sent more than its answer (a lying Content-Length, two answers to one
    request) leaves bytes in the connection that httpcore would read as the next request's
    answer: the next call would get this one's leftovers (another key). Close that
    connection instead of pooling it. (httpcore keeps them in its h11 state; an httpcore
    laid out otherwise is left as it is.)"""
    try:
        connection = resp.stream._stream._httpcore_stream._stream._connection
        surplus, _ = connection._h11_state.trailing_data
    except (AttributeError, TypeError, ValueError):
        return
    if surplus:
        await connection.aclose()  # pooled no more (httpcore drops a closed connection)


def _connecting_code() -> frozenset[Any]:
    """Where httpcore gets a request its connection (waiting for a pooled one to come free,
    or making a new one); the request is written only after these return. Empty if this
    httpcore has other names: then a timeout is always "maybe sent" (the safe side)."""
    try:
        from httpcore._async.connection import AsyncHTTPConnection
        from httpcore._async.connection_pool import AsyncPoolRequest

        return frozenset({
            AsyncPoolRequest.wait_for_connection.__code__,
            AsyncHTTPConnection._connect.__code__,
        })
    except (ImportError, AttributeError):  # pragma: no cover - another httpcore
        return frozenset()


def _foreign(request: Request, exc: Exception) -> APIConnectionError:
    return APIConnectionError(f"{request.method} failed: {exc.__class__.__name__} from httpx")
