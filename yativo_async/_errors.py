"""The exception tree, and the one pure function that maps a response to an exception.

::

    YativoError
     ├── APIStatusError            .status .message .request_id .headers .body
     │    ├── BadRequestError           400, 422
     │    ├── AuthenticationError       401
     │    ├── PermissionDeniedError     403 (a wrong 2FA code included)
     │    ├── NotFoundError             404
     │    ├── ConflictError             409
     │    ├── RateLimitError            429, or the client's own budget past max_wait (.retry_after)
     │    └── ServerError               5xx
     ├── APIConnectionError        the request did not complete (.maybe_sent)
     │    └── APITimeoutError
     ├── ResponseDecodeError       a body that is not what the docs promise
     │    └── ResponseTooLargeError     a body past max_response_bytes (after decompression)
     ├── OutcomeUnknownError       a create/generate/rotate that may or may not have happened
     └── TokenUnavailableError     no bearer token could be had (the exchange failed or backs off)

Rules: errors carry data, never secrets. Bodies kept on an error are capped and have
secret-looking fields masked. Foreign exceptions (aiohttp, httpx) are translated once, at the
transport edge, with ``raise ... from exc``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "TokenUnavailableError",
    "YativoError",
    "error_from_response",
    "redact_text",
]

BODY_CAP: Final = 2048
_REQUEST_ID_HEADERS: Final = (
    "x-request-id",
    "request-id",
    "x-correlation-id",
    "x-amzn-requestid",
    "cf-ray",
)
_SECRET_KEYS: Final = re.compile(
    r"secret|token|password|authorization|api_key|apikey|code", re.IGNORECASE
)
_JSON_SECRET_FIELD: Final = re.compile(
    r'("[^"]*(?:secret|token|password|authorization|api_key|apikey)[^"]*"\s*:\s*)"[^"]*"',
    re.IGNORECASE,
)
_BEARER: Final = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


class YativoError(Exception):
    """Base of every error the SDK raises on purpose."""

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
    ``status`` is 429 in both cases; ``from_client`` tells them apart.
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
    """The request timed out."""

    def __init__(self, message: str = "request timed out", *, maybe_sent: bool = True) -> None:
        super().__init__(message, maybe_sent=maybe_sent)


class ResponseDecodeError(YativoError):
    """A response body that is not what the docs promise: bad JSON, wrong shape, missing field."""

    def __init__(
        self, message: str, *, status: int | None = None, body: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


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


# --------------------------------------------------------------------------------------
# Pure helpers


def redact_text(text: str) -> str:
    """Mask values of secret-looking JSON fields and bearer tokens in free text."""
    text = _JSON_SECRET_FIELD.sub(r'\1"***"', text)
    return _BEARER.sub(r"\1***", text)


def _redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("***" if isinstance(k, str) and _SECRET_KEYS.search(k) and v is not None
                else _redact_json(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_json(v) for v in value]
    return value


def safe_body(body: bytes) -> str:
    """The body as text for an error: secret fields masked, capped at ``BODY_CAP``."""
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        redacted = redact_text(text)
    else:
        redacted = json.dumps(_redact_json(parsed), ensure_ascii=False)
    if len(redacted) > BODY_CAP:
        return redacted[:BODY_CAP] + "...[truncated]"
    return redacted


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def _message_from_json(parsed: Any) -> str | None:
    if isinstance(parsed, str):
        return parsed
    if not isinstance(parsed, dict):
        return None
    for key in ("message", "error_description", "detail", "error", "errors", "msg"):
        if key not in parsed:
            continue
        value = parsed[key]
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            inner = _message_from_json(value)
            if inner:
                return inner
        if isinstance(value, list) and value:
            parts = [_message_from_json(v) or str(v) for v in value[:5]]
            return "; ".join(p for p in parts if p)
    return None


def extract_message(body: bytes, content_type: str = "") -> str | None:
    """Find a human message in a lenient error body: JSON, HTML or plain text."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    if text[:1] in "{[\"":
        try:
            parsed = json.loads(text)
        except ValueError:
            pass
        else:
            found = _message_from_json(parsed)
            return redact_text(found)[:500] if found else None
    if "html" in content_type or text[:1] == "<":
        match = _TITLE.search(text) or _H1.search(text)
        if match:
            inner = _SPACES.sub(" ", _TAGS.sub("", match.group(1))).strip()
            if inner:
                return redact_text(inner)[:200]
        return "an HTML error page (probably from a proxy)"
    first_line = text.splitlines()[0].strip()
    return redact_text(first_line)[:500]


_STATUS_TEXT: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _class_for(status: int) -> type[APIStatusError]:
    if status in (400, 422):
        return BadRequestError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return APIStatusError


def request_id_from(headers: Mapping[str, str]) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    retry_after: float | None = None,
) -> APIStatusError:
    """Build the exception for an error response. Pure: no I/O, no clock.

    ``headers`` must have lower-case names (every transport hands them over so).
    """
    message = extract_message(body, headers.get("content-type", "")) or _STATUS_TEXT.get(
        status, "error"
    )
    cls = _class_for(status)
    kwargs: dict[str, Any] = {
        "status": status,
        "headers": headers,
        "body": safe_body(body) if body else None,
        "request_id": request_id_from(headers),
    }
    return cls(message, retry_after=retry_after, **kwargs)
