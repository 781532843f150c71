"""`AiohttpTransport`: the default transport and the only module that imports aiohttp's client.

Rules:
* the session is created lazily, inside the running loop, on the first request (never in
  ``__init__``), and one session (one connection pool) serves every concurrent request;
* a session the user passed in is theirs: never closed here;
* a session made in a loop that has since been closed (a client used across two
  ``asyncio.run`` calls) is dropped and a new one made in the current loop; so is one
  inherited by a forked child, without touching the parent's connections;
* aiohttp errors (and anything else foreign it raises) become `APIConnectionError`/
  `APITimeoutError` here, once, ``from exc``;
* redirects are never followed (``allow_redirects=False`` on every request, whatever the
  session says): a 3xx reaches the client as a response, and the Authorization header
  goes nowhere but the configured host;
* the body is read in pieces (aiohttp inflates gzip/deflate as it reads, in bounded steps
  since 3.13.3) and reading stops at ``request.max_response_bytes`` after decompression;
* ``ClientTimeout(total=request.timeout)`` bounds connect, send, headers and the whole body
  (aiohttp's timer covers every read of the body stream), so a server that stays silent or
  drips bytes cannot hold a call longer than its timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Final

import aiohttp
from aiohttp.hdrs import CONTENT_ENCODING
from aiohttp.http_exceptions import ContentEncodingError
from multidict import CIMultiDict, CIMultiDictProxy

from ._errors import APIConnectionError, APITimeoutError, ResponseDecodeError, YativoError
from ._sansio import quoted_failure, redact_text
from ._transport import (
    HIDDEN_HEADERS,
    Request,
    Response,
    check_headers,
    closed_error,
    cut_while_connecting,
    head_of,
    refuse_early,
    response_cap,
    response_of,
    scrub,
    too_large,
)

__all__ = ["AiohttpTransport"]

_log = logging.getLogger("yativo_async")
_DEFAULT_TIMEOUT: Final = 30.0

#: forks this process descends from: a session made before a fork belongs to the parent
_forks = [0]
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


class AiohttpTransport:
    """HTTP over one ``aiohttp.ClientSession``.

    Args:
        session: an existing session to use (the transport never closes it).
        limit: the pool's total connection cap (aiohttp's ``TCPConnector(limit=)``).
        limit_per_host: the per-host cap (0 = no cap beyond ``limit``).
        connect_timeout: seconds to establish a connection (a wait for a pooled one is
            bounded only by the request's timeout).
        keepalive_timeout: seconds an idle pooled connection is kept.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        limit: int = 100,
        limit_per_host: int = 0,
        connect_timeout: float = 10.0,
        keepalive_timeout: float = 30.0,
    ) -> None:
        if limit < 0 or limit_per_host < 0:
            raise ValueError("connection limits must be >= 0")
        self._session = session
        self._owns_session = session is None
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._connect_timeout = connect_timeout
        self._keepalive_timeout = keepalive_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._forks = _forks[0]  # of the session held (see `_forks`)
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._closed = False
        #: the last request whose headers passed `check_headers` (requests are frozen values,
        #: and the client sends the same one again for a repeated list call), with its
        #: aiohttp timeout and its body cap
        self._checked: tuple[
            Request, aiohttp.ClientTimeout, int, CIMultiDictProxy[str]
        ] | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise closed_error()
        if not self._owns_session:
            assert self._session is not None
            if self._session.closed:  # the user closed their own session
                raise closed_error()
            return self._session
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and (self._loop is not loop or self._forks != _forks[0]):
            # Made in another loop. That loop is gone (asyncio.run closed it) or this is a
            # second loop, or a forked child's copy of its parent's: a session cannot cross
            # loops or processes, so drop it and start afresh.
            if self._forks != _forks[0]:
                self._leave_to_parent(session)
            else:
                self._discard(session)
            session = None
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                keepalive_timeout=self._keepalive_timeout,
            )
            session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
            # aiohttp silently resends an idempotent request once when a pooled connection
            # drops. That second send would bypass the rate limiter (one slot, two requests
            # at the server), so turn it off: the SDK's own retry layer resends, with a slot.
            # (A private switch; aiohttp's own test utilities flip it the same way.)
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
            self._loop = loop
            self._forks = _forks[0]
        return session

    def _leave_to_parent(self, session: aiohttp.ClientSession) -> None:
        """Drop a session this forked child inherited. Its connections are the parent's:
        closing them through aiohttp would unregister the sockets from the event loop's
        epoll instance, which parent and child share, and the parent's pooled connections
        would never be read again (each call on one hangs until its timeout). Only the
        child's copies of the sockets are closed (the parent's stay open and watched)."""
        connector = session.connector
        if connector is not None:
            _close_orphaned_sockets(connector)
            connector._conns.clear()
            connector._acquired.clear()
            connector._closed = True  # nothing left for its close (or collection) to do
        session._connector = None

    def _discard(self, session: aiohttp.ClientSession) -> None:
        """Drop a session made in another loop. Nothing can be awaited across loops, so the
        connector's sync close drops its pooled sockets, and detaching it marks the session
        closed (collecting it later does not warn)."""
        old_loop = self._loop
        if old_loop is not None and not old_loop.is_closed():
            _log.warning(
                "AiohttpTransport reused from a different event loop; "
                "the old session is dropped (close the client in the loop that used it)"
            )
        connector = session.connector
        if connector is not None:
            if old_loop is not None and old_loop.is_closed():
                _close_orphaned_sockets(connector)
            connector._close()
        session._connector = None

    def _timeout(self, seconds: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            # sock_connect, not connect: aiohttp's ``connect`` also bounds the wait for a
            # pooled connection (a busy pool then fails calls as "timed out connecting",
            # and arms a timer for every call that queues for one)
            timeout = aiohttp.ClientTimeout(
                total=seconds if seconds is not None else _DEFAULT_TIMEOUT,
                sock_connect=self._connect_timeout,
            )
            self._timeouts[seconds] = timeout
        return timeout

    async def send(self, request: Request) -> Response:
        """Send ``request`` on the shared aiohttp session and read the body (up to the request's
        ``max_response_bytes``).

        Raises:
            APITimeoutError: the request's ``timeout`` ran out (``maybe_sent`` says whether it
                left).
            APIConnectionError: the connection failed, or the transport is closed.
            ResponseTooLargeError: the body passed ``max_response_bytes`` after decompression.
        """
        checked = self._checked
        if checked is None or checked[0] is not request:
            check_headers(request.headers)
            checked = (request, self._timeout(request.timeout), response_cap(request),
                       CIMultiDictProxy(CIMultiDict(request.headers)))
            self._checked = checked
        # (headers as aiohttp would turn them: a repeated request spares it that)
        timeout, cap, headers = checked[1], checked[2], checked[3]
        session = self._session
        if (
            session is None or not self._owns_session or self._closed
            or self._loop is not asyncio.get_running_loop() or self._forks != _forks[0]
        ):
            session = self._get_session()  # (else: ours, made in this loop, and open)
        try:
            # Awaited, not `async with`: the same request (the context manager's `__await__`
            # is the request's own), one coroutine level fewer for the whole wait for the
            # answer, and no `__aenter__`/`__aexit__` coroutines; released below as its
            # `__aexit__` would release it.
            resp = await session.request(
                request.method,
                request.url,
                headers=headers,
                data=request.body,
                timeout=timeout,
                allow_redirects=False,
            )
            try:
                raw = resp.headers
                length = resp.content_length
                # (aiohttp's names are `istr`s: found without lower-casing them each time)
                if length is not None and CONTENT_ENCODING not in raw:
                    # Plain body of a declared length (nearly every answer): aiohttp reads
                    # exactly that much, in one call (no coroutine of ours around it).
                    if length <= cap:
                        body = await resp.read()
                    elif refuse_early(request):
                        resp.close()  # drop the connection rather than drain what we drop
                        raise too_large(request, cap, resp.status)
                    else:  # it may hold a new key's secret: read up to the cap
                        body = await _read_chunks(resp, request)
                else:
                    body = await _read_chunks(resp, request)
            finally:
                resp.release()  # (`ClientResponse.__aexit__`)
                await resp.wait_for_close()
            # aiohttp's headers as they are (no copy per response): see LowerHeaders
            return response_of(resp.status, raw, body)
        except YativoError:
            raise
        except aiohttp.ConnectionTimeoutError as exc:
            raise APITimeoutError(
                f"timed out connecting to {_host(request.url)}", maybe_sent=False
            ) from exc
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise APITimeoutError(
                f"{request.method} {_path(request.url)} timed out after {request.timeout} s",
                maybe_sent=not cut_while_connecting(exc, _CONNECTING),
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            # Includes refused connections and DNS failures: nothing reached the server.
            raise APIConnectionError(
                f"cannot connect to {_host(request.url)}: {exc.os_error.strerror or exc}",
                maybe_sent=False,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            if isinstance(exc, aiohttp.ClientResponseError):
                _mask_request_info(exc)
            text = redact_text(scrub(str(exc), request))[:200]
            if _caused_by(exc, ContentEncodingError):
                # The body arrived but does not inflate, or in an encoding aiohttp cannot
                # undo: a bad body, not a network fault (as HttpxTransport says it).
                failure: YativoError = ResponseDecodeError(
                    f"response body cannot be decoded: {text}")
            else:
                failure = APIConnectionError(
                    f"{request.method} {_path(request.url)} failed: "
                    f"{exc.__class__.__name__}: {text}"
                )
            unchained = quoted_failure(
                exc, request, failure, f"{request.method} {_path(request.url)}", text)
            if unchained is None:
                raise failure from exc
            # aiohttp quoted bytes it could not parse, and they held a secret: not chained
            # (the quote would reach every traceback); raised below, outside the handler.
            failure = unchained
        except RuntimeError as exc:
            if session.closed:  # closed under us (by its owner) while this request ran
                raise closed_error() from exc
            raise _foreign(request, exc) from exc
        except Exception as exc:
            # Anything else aiohttp lets out (a ValueError or an AssertionError from deep in
            # its parser): still only YativoErrors leave a transport. Only the class name is
            # shown; the message could quote what was sent.
            raise _foreign(request, exc) from exc
        raise failure  # (outside the handler: the quoting error is not its __context__)

    async def aclose(self) -> None:
        """Close the session and its pooled connections. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # pragma: no cover - aclose is async, a loop runs
                loop = None
            if loop is self._loop:
                await session.close()
            else:
                self._discard(session)

    def __repr__(self) -> str:
        return f"AiohttpTransport(limit={self._limit}, owns_session={self._owns_session})"


def _close_orphaned_sockets(connector: aiohttp.BaseConnector) -> None:
    """Close the sockets of a pool whose loop is closed (a client used across two
    ``asyncio.run`` calls). aiohttp closes nothing once its loop is closed, and a transport
    cannot close itself without its loop (it asks the loop to finish the close), so each
    socket would stay open until collected, with a ``ResourceWarning``. The loop's socket
    transports keep the socket as ``_sock``; any other kind (uvloop's) is left as it is."""
    protocols = [proto for conns in connector._conns.values() for proto, _ in conns]
    protocols.extend(connector._acquired)
    for proto in protocols:
        transport = proto.transport
        # TLS (https): asyncio's SSL transport wraps the socket transport that holds it
        inner = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)
        for layer in (transport, inner):
            sock = getattr(layer, "_sock", None)
            if isinstance(sock, socket.socket):
                sock.close()
                layer._sock = None  # type: ignore[union-attr]  # closed: nothing to warn of
                if layer is inner:
                    transport._closed = True  # type: ignore[union-attr]  # the TLS wrapper too


async def _read_chunks(resp: aiohttp.ClientResponse, request: Request) -> bytes:
    """A compressed body, or one of no declared length: read no further than the cap
    (counted after decompression)."""
    cap = response_cap(request)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > cap:
            resp.close()
            raise too_large(request, cap, resp.status, head_of([*chunks, chunk]))
        chunks.append(chunk)
    return b"".join(chunks)


#: aiohttp gets a request its connection here (a pooled one, waiting for one to come free
#: when the pool is full, or a new one); the request is written only after it returns
_CONNECTING: Final = frozenset({aiohttp.BaseConnector.connect.__code__})


def _mask_request_info(exc: aiohttp.ClientResponseError) -> None:
    """aiohttp's response errors keep the request's headers (the bearer token, the 2FA
    code) and show them in their repr; chained as our error's cause, they must not."""
    info = exc.request_info
    if info is None:
        return
    headers = CIMultiDict(info.headers)
    for name in HIDDEN_HEADERS:
        if name in headers:
            headers[name] = "***"
    masked = aiohttp.RequestInfo(info.url, info.method, CIMultiDictProxy(headers), info.real_url)
    exc.request_info = masked
    # aiohttp also keeps it as the error's first argument (seen by code that walks `args`)
    exc.args = tuple(masked if arg is info else arg for arg in exc.args)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is in ``exc``'s chain of causes (aiohttp wraps a parser's error
    twice: ClientResponseError from HttpProcessingError from the parser's own)."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        if isinstance(cause, kind):
            return True
        cause, seen = cause.__cause__, seen + 1
    return False


def _foreign(request: Request, exc: Exception) -> APIConnectionError:
    return APIConnectionError(
        f"{request.method} {_path(request.url)} failed: {exc.__class__.__name__} from aiohttp"
    )


def _host(url: str) -> str:
    # Never userinfo: "user:password@host" shows only the host.
    return url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]


def _path(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
