"""The exception tree. Which response becomes which exception is decided by
`yativo_async._sansio.error_from_response` (pure, beside the rest of the wire protocol).

::

    YativoError
     ├── APIStatusError            .status .message .request_id .headers .body
     │                             repr: status and request id (the server's X-Request-Id)
     │    ├── BadRequestError           400, 422
     │    ├── AuthenticationError       401
     │    ├── PermissionDeniedError     403 (a wrong 2FA code included)
     │    ├── NotFoundError             404
     │    ├── ConflictError             409
     │    ├── RateLimitError            429, or the client's own budget past max_wait (.retry_after)
     │    └── ServerError               5xx
     ├── APIConnectionError        the request did not complete (.maybe_sent)
     │    ├── APITimeoutError
     │    └── ClientClosedError         the client was closed before the call ended
     ├── ResponseDecodeError       a body that is not what the docs promise
     │    └── ResponseTooLargeError     a body past max_response_bytes (after decompression)
     ├── OutcomeUnknownError       a create/generate/rotate that may or may not have happened
     ├── RedisUnavailableError     Redis (the fleet's shared budget) unreachable: nothing sent
     └── TokenUnavailableError     no bearer token could be had (the exchange failed or backs off)

Rules: errors carry data, never secrets. Bodies kept on an error are capped and have
secret-looking fields masked. Foreign exceptions (aiohttp, httpx) are translated once, at the
transport edge, with ``raise ... from exc``. What the retry layer reads from an error is a
declared attribute of `YativoError` (``retry_after``, ``from_token_exchange``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._secret import Secret

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedisUnavailableError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "TokenUnavailableError",
    "YativoError",
]

class YativoError(Exception):
    """Base of every error the SDK raises on purpose.

    Attributes:
        retry_after: seconds after which trying again makes sense, when known (a server's
            ``Retry-After``, the client's own budget, a token exchange's backoff).
        from_token_exchange: the error is a failed token exchange handed to a waiting call;
            the token provider has its own backoff, so the call's retry layer leaves it be.
    """

    retry_after: float | None = None
    from_token_exchange: bool = False

    def _clone(self) -> YativoError:
        """A fresh exception object with the same data (one per waiter of a shared failure)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.args = self.args
        return new


class APIStatusError(YativoError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers: Mapping[str, str] = dict(headers or {})
        self.body = body
        self.request_id = request_id
        #: seconds the server asked us to wait (``Retry-After``), when it said so
        self.retry_after = retry_after

    def __str__(self) -> str:
        suffix = f" (request id {self.request_id})" if self.request_id else ""
        return f"HTTP {self.status}: {self.message}{suffix}"

    def __repr__(self) -> str:
        # The status and the request id are what a support ticket needs; the message is
        # already masked (no token, 2FA code or API secret the client sent).
        return (
            f"{type(self).__name__}(status={self.status}, request_id={self.request_id!r}, "
            f"message={self.message!r})"
        )


class BadRequestError(APIStatusError):
    """400 or 422: the server refused the arguments."""


class AuthenticationError(APIStatusError):
    """401: missing, expired or revoked credentials."""


class PermissionDeniedError(APIStatusError):
    """403: not allowed, or a wrong/missing 2FA code."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409."""


class RateLimitError(APIStatusError):
    """429 from the server, or the client's own budget when ``max_wait`` is exceeded.

    ``retry_after`` is the number of seconds after which budget returns (``None`` if unknown).
    ``status`` is 429 in both cases; ``from_client`` tells them apart, and the message of
    a client-side one never reads "HTTP 429" (nothing was sent, the server said nothing).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        from_client: bool = False,
    ) -> None:
        super().__init__(
            message,
            status=status,
            headers=headers,
            body=body,
            request_id=request_id,
            retry_after=retry_after,
        )
        self.from_client = from_client

    def __str__(self) -> str:
        if self.from_client:
            # Nothing was sent and the server said nothing: no "HTTP 429" here.
            return self.message
        return super().__str__()

    def __repr__(self) -> str:
        if self.from_client:
            return (
                f"RateLimitError(client_side=True, retry_after={self.retry_after!r}, "
                f"message={self.message!r})"
            )
        return super().__repr__()


class ServerError(APIStatusError):
    """5xx."""


class APIConnectionError(YativoError):
    """The request did not complete: refused, reset, dropped, TLS, DNS.

    ``maybe_sent`` is False only when the failure proves the server never saw the request
    (for example: connection refused). Non-idempotent calls are retried only then.
    """

    def __init__(self, message: str = "connection error", *, maybe_sent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.maybe_sent = maybe_sent


class APITimeoutError(APIConnectionError):
    """The request timed out. ``maybe_sent`` is False when it timed out before its request
    could leave: connecting, or (default transport) queued for a pooled connection."""

    def __init__(self, message: str = "request timed out", *, maybe_sent: bool = True) -> None:
        super().__init__(message, maybe_sent=maybe_sent)


class ClientClosedError(APIConnectionError, RuntimeError):
    """The client was closed (``aclose()``) before this call ended, or a call was made on a
    closed client. A call that was in flight may have reached the server (``maybe_sent``).

    Also a ``RuntimeError``, as using a closed client always was.
    """

    def __init__(
        self, message: str = "the YativoClient is closed", *, maybe_sent: bool = False
    ) -> None:
        super().__init__(message, maybe_sent=maybe_sent)


class ResponseDecodeError(YativoError):
    """A response body that is not what the docs promise: bad JSON, wrong shape, missing field."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        #: the server's request id of the response that did not decode
        self.request_id = request_id
        #: a new API secret the answer carried although it did not decode as a whole (a
        #: create, generate or rotate whose other fields are malformed): the key exists, and
        #: this is the only copy of its secret. ``None`` when there was none.
        self.api_secret: Secret | None = None
        #: that key's id and API key, when the answer named them
        self.key_id: str | None = None
        self.api_key: str | None = None

    def __str__(self) -> str:
        suffix = f" (request id {self.request_id})" if self.request_id else ""
        if self.api_secret is not None:
            suffix += (f"; the answer carried the new API secret of key {self.key_id or '?'}: "
                       "it is in .api_secret")
        return f"{self.message}{suffix}"

    def __repr__(self) -> str:
        return (
            f"ResponseDecodeError(status={self.status}, request_id={self.request_id!r}, "
            f"message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # A `Secret` refuses to be pickled; the error must still cross a process boundary
        # (a ProcessPoolExecutor worker's exception): it goes without the secret.
        state = dict(self.__dict__)
        state["api_secret"] = None
        return (type(self), self.args, state)

    def with_secret(
        self, api_secret: Secret, key_id: str | None, api_key: str | None
    ) -> ResponseDecodeError:
        """This error, carrying the new secret its answer held (see ``api_secret``)."""
        new = self._clone()
        assert isinstance(new, ResponseDecodeError)
        new.api_secret, new.key_id, new.api_key = api_secret, key_id, api_key
        return new

    def with_request_id(self, request_id: str | None) -> ResponseDecodeError:
        """This error, carrying ``request_id`` (decoding knows the body, not the headers)."""
        if request_id is None or self.request_id is not None:
            return self
        new = self._clone()
        assert isinstance(new, ResponseDecodeError)
        new.request_id = request_id
        return new


class OutcomeUnknownError(YativoError):
    """A non-idempotent call failed in a way that may have reached the server.

    The SDK does not retry it, since a second attempt could create a duplicate key (whose
    secret nobody saw) or hide a freshly rotated secret. Check the server state
    (``api_keys.list()``) before trying again. The cause is chained as ``__cause__``.
    """

    def __init__(self, message: str, *, operation: str, key_name: str | None = None,
                 key_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.key_name = key_name
        self.key_id = key_id


class RedisUnavailableError(YativoError):
    """Redis, which shares the rate-limit budget (and the token) of a fleet, cannot be
    reached, so nothing was sent (the fleet could not account for it). The cause is
    chained. ``redis_fallback="local"`` on the client goes on without Redis instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenUnavailableError(YativoError):
    """No bearer token could be had; the cause is chained. ``retry_after`` says when the
    provider will try again (after a failed exchange it backs off)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class ResponseTooLargeError(ResponseDecodeError):
    """A response body longer than ``max_response_bytes``, counted after decompression.

    The transport stopped reading at the cap and dropped the connection, so neither an
    endless body nor a compression bomb can grow the process. ``limit`` is the cap in bytes.
    """

    def __init__(self, message: str, *, limit: int, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.limit = limit
