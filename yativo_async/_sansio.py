"""The wire protocol, with no I/O: everything about bytes and headers, nothing about time
or sockets (the current time is passed in), so each function is tested with recorded
samples (``tests/test_sansio.py``, ``tests/samples/``).

Rules of this module:

1. Requests: `build_request` is the only place that assembles a request: URL, fixed
   headers, the bearer token, the 2FA code (``X-2FA-Token`` header, and the
   ``two_factor_token`` body field where the operation wants it), the JSON body.
2. Limits: `LIMIT_HEADERS` names every header `parse_rate_limit_headers` reads, and is
   derived from the same table, so the gate and the parser cannot drift apart.
3. Errors: `error_from_response` alone turns a status and body into an exception; bodies are
   read leniently (JSON ``message``/``error``/``detail``, HTML, plain text).
4. Redaction: nothing kept from a response (a message, a body) carries a secret-looking
   field's value or a bearer token.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import attrs

from ._config import RateLimit
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    YativoError,
)
from ._salvage import salvage_secret
from ._transport import MASK_MIN, LowerHeaders, Request, scrub

__all__ = [
    "LIMIT_HEADERS",
    "TWO_FACTOR_FIELD",
    "TWO_FACTOR_HEADER",
    "ServerLimits",
    "build_request",
    "cap_server_limits",
    "carries_limits",
    "encode_json",
    "error_from_response",
    "extract_message",
    "header_safe",
    "is_success",
    "key_path",
    "MASK_MIN",
    "mask_secrets",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "redact_text",
    "reported_failure",
    "mask_header_values",
    "masked_request_id",
    "request_id_from",
    "safe_body",
]

# --------------------------------------------------------------------------------------
# 1. Requests

TWO_FACTOR_HEADER: Final = "X-2FA-Token"
#: the body field doc 002's create wants the code in, besides the header
TWO_FACTOR_FIELD: Final = "two_factor_token"


def encode_json(fields: Mapping[str, Any]) -> bytes:
    """A request body: compact JSON, UTF-8."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def build_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    token: str | None = None,
    body: Mapping[str, Any] | None = None,
    code: str | None = None,
    code_in_body: bool = False,
    extra_headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    max_response_bytes: int | None = None,
) -> Request:
    """The request for one attempt. ``headers`` are the client's fixed headers (not
    copied unless something is added); ``extra_headers`` are the caller's and never replace
    the token or the 2FA code."""
    if token is None and code is None and body is None and not extra_headers:
        return Request(method=method, url=url, headers=headers, timeout=timeout,
                       max_response_bytes=max_response_bytes)
    if extra_headers:
        # Header names are case-insensitive: a caller's "user-agent" replaces ours.
        lower = {name.lower() for name in extra_headers}
        out = {k: v for k, v in headers.items() if k.lower() not in lower}
        out.update(extra_headers)
    else:
        out = dict(headers)
    if token is not None:
        out["Authorization"] = "Bearer " + token
    if code is not None:
        out[TWO_FACTOR_HEADER] = code
        if code_in_body:
            body = {**(body or {}), TWO_FACTOR_FIELD: code}
    data = None
    if body is not None:
        out["Content-Type"] = "application/json"
        data = encode_json(body)
    return Request(method=method, url=url, headers=out, body=data, timeout=timeout,
                   max_response_bytes=max_response_bytes)


#: whitespace, path and query characters, and control characters (C0, DEL, C1)
_BAD_ID: Final = re.compile(r"[\s/?#\x00-\x1f\x7f-\x9f]")


def key_path(key_id: str, suffix: str = "") -> str:
    """``/apikey/{id}{suffix}`` with the id checked and quoted."""
    if not isinstance(key_id, str):
        raise TypeError(f"key_id must be a str, not {type(key_id).__name__}")
    if not key_id or _BAD_ID.search(key_id) or key_id in (".", ".."):
        raise ValueError(f"key_id {key_id!r} is not a valid key id")
    return f"/apikey/{quote(key_id, safe='')}{suffix}"


# --------------------------------------------------------------------------------------
# 2. Limits

#: legacy header families, each with ``limit``, ``remaining`` and ``reset``
_LIMIT_PREFIXES: Final = ("x-ratelimit-", "x-rate-limit-", "ratelimit-")
_LIMIT_FIELDS: Final = ("limit", "remaining", "reset")
#: every header `parse_rate_limit_headers` reads (lower case)
LIMIT_HEADERS: Final = frozenset(
    {"retry-after", "ratelimit", "ratelimit-policy"}
    | {prefix + field for prefix in _LIMIT_PREFIXES for field in _LIMIT_FIELDS}
)

_EPOCH_THRESHOLD: Final = 1_000_000_000.0  # a reset above this is an epoch timestamp
_EPOCH_MS_THRESHOLD: Final = 1_000_000_000_000.0


def carries_limits(status: int, headers: Mapping[str, str]) -> bool:
    """Whether a response says anything about the server's limits (cheap: most don't)."""
    return status == 429 or has_any(headers, LIMIT_HEADERS)


def has_any(headers: Mapping[str, str], names: frozenset[str]) -> bool:
    """Whether any of the lower-case ``names`` is among ``headers`` (one look at all of
    them; a `LowerHeaders` view answers without being copied)."""
    if type(headers) is LowerHeaders:
        return not headers._raw.keys().isdisjoint(names)  # `any_of`, inline (twice a call)
    return not names.isdisjoint(headers)


def parse_retry_after(value: str | None, *, now_epoch: float) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date. Malformed -> None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        try:
            return max(0.0, when.timestamp() - now_epoch)
        except (OverflowError, ValueError, OSError):
            return None
    if not math.isfinite(seconds) or seconds < 0:  # inf, NaN or negative: malformed
        return None
    return seconds


def _reset_seconds(value: str, now_epoch: float) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return parse_retry_after(value, now_epoch=now_epoch)
    if not math.isfinite(number) or number < 0:
        return None
    if number >= _EPOCH_MS_THRESHOLD:
        return max(0.0, number / 1000.0 - now_epoch)
    if number >= _EPOCH_THRESHOLD:
        return max(0.0, number - now_epoch)
    return number


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip().split(",")[0].strip())
    except ValueError:
        return None
    return number if number >= 0 else None


@attrs.frozen(kw_only=True)
class ServerLimits:
    """What a response said about the server's limits. Every field may be absent."""

    retry_after: float | None = None
    #: windows the server announced with a known period (IETF ``RateLimit-Policy``)
    policies: tuple[RateLimit, ...] = ()
    #: a quota of unknown period (legacy ``X-RateLimit-Limit``)
    limit: int | None = None
    remaining: int | None = None
    #: seconds until ``remaining`` is replenished
    reset_after: float | None = None


_ITEM_SPLIT: Final = re.compile(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)")


def _parse_sf_list(value: str) -> list[tuple[str, dict[str, str]]]:
    """A forgiving reader for the Structured Field lists of the IETF drafts."""
    items = []
    for raw in _ITEM_SPLIT.split(value):
        parts = [p.strip() for p in raw.split(";")]
        if not parts or not parts[0]:
            continue
        head, params = parts[0], {}
        if "=" in head:  # an item with no name: "q=5;w=60"
            head = ""
        else:
            parts = parts[1:]
        for part in parts:
            if "=" in part:
                k, v = part.split("=", 1)
                params[k.strip().lower()] = v.strip().strip('"')
        items.append((head.strip('"'), params))
    return items


def parse_rate_limit_headers(headers: Mapping[str, str], *, now_epoch: float) -> ServerLimits:
    """Read ``Retry-After``, ``X-RateLimit-*``/``RateLimit-*`` and the IETF draft's
    ``RateLimit-Policy``/``RateLimit`` fields (the names in `LIMIT_HEADERS`). Malformed fields
    are ignored, as the draft asks. ``headers`` must have lower-case names.
    """
    retry_after = parse_retry_after(headers.get("retry-after"), now_epoch=now_epoch)
    policies: list[RateLimit] = []
    limit = remaining = None
    reset_after = None

    policy = headers.get("ratelimit-policy")
    if policy:
        for head, params in _parse_sf_list(policy):
            quota = params.get("q") or (head if head.isdigit() else None)
            window = params.get("w")
            try:
                if quota is not None and window is not None:
                    period = float(window)
                    if math.isfinite(period):
                        policies.append(RateLimit(int(quota), period))
            except (ValueError, TypeError, OverflowError):
                continue

    current = headers.get("ratelimit")
    if current:
        for _name, params in _parse_sf_list(current):
            if "r" in params:  # draft-08+: "name";r=50;t=30
                remaining = _int(params["r"])
                if "t" in params:
                    reset_after = _reset_seconds(params["t"], now_epoch)
                break
        else:  # draft-07: limit=100, remaining=50, reset=30
            fields = dict(
                (k.strip().lower(), v.strip())
                for k, v in (p.split("=", 1) for p in current.split(",") if "=" in p)
            )
            limit = _int(fields.get("limit"))
            remaining = _int(fields.get("remaining"))
            if "reset" in fields:
                reset_after = _reset_seconds(fields["reset"], now_epoch)

    for prefix in _LIMIT_PREFIXES:
        if limit is None:
            limit = _int(headers.get(prefix + "limit"))
        if remaining is None:
            remaining = _int(headers.get(prefix + "remaining"))
        if reset_after is None and (prefix + "reset") in headers:
            reset_after = _reset_seconds(headers[prefix + "reset"], now_epoch)

    return ServerLimits(
        retry_after=retry_after,
        policies=tuple(policies),
        limit=limit,
        remaining=remaining,
        reset_after=reset_after,
    )


def cap_server_limits(
    info: ServerLimits, *, max_pause: float, max_period: float
) -> tuple[ServerLimits, list[str]]:
    """Bound what one response may do to the client: no pause (``Retry-After``, or a reset
    with no budget left) longer than ``max_pause``, no reset of a budget still being spent
    and no window longer than ``max_period`` (the longest one configured). A hint past a
    bound is suspect (a wrong wall clock, a proxy's garbage):
    it is capped, and the second value says what was capped, for a warning."""
    notes: list[str] = []
    retry_after, reset_after = info.retry_after, info.reset_after
    if retry_after is not None and retry_after > max_pause:
        notes.append(f"Retry-After of {retry_after:.0f} s capped at {max_pause:.0f} s")
        retry_after = max_pause
    # A reset with budget left only says when the server's count restarts: an hourly
    # window's reset is rightly up to an hour away. With nothing left (or no count) it is a
    # pause, bounded like Retry-After.
    spending = info.remaining is not None and info.remaining > 0
    reset_bound = max_period if spending else max_pause
    if reset_after is not None and reset_after > reset_bound:
        notes.append(f"a rate-limit reset {reset_after:.0f} s away capped at {reset_bound:.0f} s")
        reset_after = reset_bound
    policies = []
    for rl in info.policies:
        if rl.period > max_period:
            notes.append(f"a {rl.period:.0f} s rate-limit window capped at {max_period:.0f} s")
            rl = RateLimit(rl.limit, max_period)
        policies.append(rl)
    if not notes:
        return info, notes
    return attrs.evolve(
        info, retry_after=retry_after, reset_after=reset_after, policies=tuple(policies)
    ), notes


# --------------------------------------------------------------------------------------
# 3. Errors

_REQUEST_ID_HEADERS: Final = (
    "x-request-id",
    "request-id",
    "x-correlation-id",
    "x-amzn-requestid",
    "cf-ray",
)
_REQUEST_ID_NAMES: Final = frozenset(_REQUEST_ID_HEADERS)

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

#: status -> exception class; anything else >= 500 is `ServerError`, the rest `APIStatusError`
_ERROR_CLASSES: Final[Mapping[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
}


def _class_for(status: int) -> type[APIStatusError]:
    cls = _ERROR_CLASSES.get(status)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else APIStatusError


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The server's request id, from the first header that carries one."""
    # one look at every name first (cheap: most answers carry none, or the first)
    if (  # `has_any`, inline: once per call
        headers._raw.keys().isdisjoint(_REQUEST_ID_NAMES) if type(headers) is LowerHeaders
        else _REQUEST_ID_NAMES.isdisjoint(headers)
    ):
        return None
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def mask_header_values(
    headers: Mapping[str, str], secrets: tuple[str, ...]
) -> dict[str, str]:
    """``headers`` as a dict, with the values the client sent masked wherever a server
    echoed them (a header is as visible as the request id it may carry)."""
    return {name: mask_secrets(value, secrets) for name, value in headers.items()}


def masked_request_id(headers: Mapping[str, str], secrets: tuple[str, ...]) -> str | None:
    """`request_id_from`, with the values the client sent masked: a hostile server can echo
    the bearer token or the 2FA code as its "request id"."""
    rid = request_id_from(headers)
    return None if rid is None else mask_secrets(rid, secrets)


_TITLE: Final = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1: Final = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAGS: Final = re.compile(r"<[^>]+>")
_SPACES: Final = re.compile(r"\s+")


def _message_from_json(parsed: Any, depth: int = 0) -> str | None:
    if isinstance(parsed, str):
        return parsed
    if not isinstance(parsed, dict) or depth > 4:
        return None
    for key in ("message", "error_description", "detail", "error", "errors", "msg"):
        if key not in parsed:
            continue
        value = parsed[key]
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            inner = _message_from_json(value, depth + 1)
            if inner:
                return inner
        if isinstance(value, list) and value:
            parts = [
                _message_from_json(v, depth + 1) or _short(v) for v in value[:5]
            ]
            return "; ".join(p for p in parts if p)
    return None


def _short(value: Any) -> str:
    """A scalar as text; a nested structure is not spelled out."""
    if isinstance(value, (dict, list)):
        return ""
    return str(value)[:200]


def _json_or_none(text: str) -> tuple[bool, Any]:
    """(parsed?, value). Malformed and absurdly nested JSON (a ``RecursionError`` in the
    parser) are both just "not JSON" here."""
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def extract_message(body: bytes, content_type: str = "") -> str | None:
    """Find a human message in a lenient error body: JSON, HTML or plain text."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    if text[:1] in "{[\"":
        ok, parsed = _json_or_none(text)
        if ok:
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


def is_success(status: int) -> bool:
    """2xx. Anything else is an error: redirects are not followed (the bearer token must
    not travel to another host), a 304 or a 1xx is not an answer to these requests."""
    return 200 <= status < 300


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    retry_after: float | None = None,
    secrets: tuple[str, ...] = (),
) -> APIStatusError:
    """The exception for a response that is not a success. ``headers`` must have
    lower-case names (every transport hands them over so). ``secrets`` are values the
    client sent (its token, a 2FA code, the API secret): masked wherever the server echoed
    them."""
    if 300 <= status < 400:
        location = headers.get("location")
        message = f"unexpected redirect (HTTP {status}); redirects are not followed" + (
            f" (to {_host_of(location)})" if location else ""
        )
    elif status < 200:
        message = f"unexpected informational status {status}"
    else:
        message = extract_message(body, headers.get("content-type", "")) or _STATUS_TEXT.get(
            status, "error"
        )
    return _class_for(status)(
        mask_secrets(message, secrets),
        status=status,
        headers=mask_header_values(headers, secrets),
        body=mask_secrets(safe_body(body), secrets) if body else None,
        request_id=masked_request_id(headers, secrets),
        retry_after=retry_after,
    )


def _host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].rsplit("@", 1)[-1][:100] or "a relative URL"


_FAILURE_STATUSES: Final = frozenset({"error", "fail", "failed", "failure"})


def reported_failure(
    status: int, headers: Mapping[str, str], body: bytes, *, secrets: tuple[str, ...] = ()
) -> APIStatusError | None:
    """A 2xx whose body says it failed: doc 000's envelope ``{"success": false, ...}`` or
    ``{"status": "error", ...}``. Used for operations that return no model (revoke,
    update_permissions), where nothing else would notice: a revoke that did not happen must
    never look done. ``secrets`` are masked as in `error_from_response`."""
    if b"success" not in body and b"status" not in body:
        return None
    ok, parsed = _json_or_none(body.decode("utf-8", errors="replace"))
    if not ok or not isinstance(parsed, dict):
        return None
    state = parsed.get("status")
    if parsed.get("success") is False or (
        isinstance(state, str) and state.lower() in _FAILURE_STATUSES
    ):
        found = _message_from_json(parsed)
        message = redact_text(found)[:500] if found else "the server reported a failure"
        return APIStatusError(
            mask_secrets(f"HTTP {status} but the server reported a failure: {message}", secrets),
            status=status,
            headers=mask_header_values(headers, secrets),
            body=mask_secrets(safe_body(body), secrets),
            request_id=masked_request_id(headers, secrets),
        )
    return None


# --------------------------------------------------------------------------------------
# 4. Redaction

#: what a body kept on an error may hold, at most (characters)
BODY_CAP: Final = 2048
_SECRET_KEYS: Final = re.compile(
    r"secret|token|password|authorization|api_key|apikey|code", re.IGNORECASE
)
_JSON_SECRET_FIELD: Final = re.compile(
    r'("[^"]*(?:secret|token|password|authorization|api_key|apikey)[^"]*"\s*:\s*)"[^"]*"',
    re.IGNORECASE,
)
_BEARER: Final = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact_text(text: str) -> str:
    """Mask values of secret-looking JSON fields and bearer tokens in free text."""
    text = _JSON_SECRET_FIELD.sub(r'\1"***"', text)
    return _BEARER.sub(r"\1***", text)


def quoted_failure(
    exc: BaseException, request: Request, failure: YativoError, what: str, shown: str
) -> YativoError | None:
    """What a transport raises for an HTTP library's error ``exc`` (whose own messages, down
    its chain, may quote what a hostile server sent): None when they quote nothing secret
    (raise ``failure`` from ``exc``), else the error to raise unchained (outside the
    handler, so ``exc`` is not even its context): ``failure``, or a `ResponseDecodeError`
    keeping a new key's secret found in the quote (an answer read past a lying
    Content-Length; ``what``: the request and ``shown``: ``exc``'s masked message, as
    ``failure`` names them). Secret: the request's own token or 2FA code (echoed with or
    without ``Bearer ``), or a secret-looking field."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 8:  # as a traceback prints the chain
        texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    said = "\n".join(texts)
    if redact_text(scrub(said, request)) == said:
        return None
    salvaged = salvage_secret(said, whole=False)
    if salvaged is None:
        return failure
    return ResponseDecodeError(
        f"{what}: the response could not be read ({exc.__class__.__name__}: {shown})"
    ).with_secret(*salvaged)


#: deeper than this, a body kept on an error is cut ("...")
_REDACT_DEPTH: Final = 32


def _redact_json(value: Any, depth: int = 0) -> Any:
    if depth > _REDACT_DEPTH and isinstance(value, (dict, list)):
        return "..."
    if isinstance(value, dict):
        return {
            k: ("***" if isinstance(k, str) and _SECRET_KEYS.search(k) and v is not None
                else _redact_json(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_json(v, depth + 1) for v in value]
    return value


def safe_body(body: bytes) -> str:
    """The body as text for an error: secret fields masked, capped at ``BODY_CAP``."""
    text = body[: BODY_CAP * 16].decode("utf-8", errors="replace")
    ok, parsed = _json_or_none(text)
    redacted = json.dumps(_redact_json(parsed), ensure_ascii=False) if ok else redact_text(text)
    if len(redacted) > BODY_CAP:
        return redacted[:BODY_CAP] + "...[truncated]"
    return redacted


def mask_secrets(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every exact occurrence of a value in ``secrets`` (of at least
    `MASK_MIN` characters) masked."""
    for secret in secrets:
        if len(secret) >= MASK_MIN and secret in text:
            text = text.replace(secret, "***")
    return text


_HEADER_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]")


def header_safe(value: str) -> bool:
    """Whether ``value`` can travel in an HTTP header as is (no CR, LF, NUL or other
    control character: a header injection, or an error deep in the HTTP library)."""
    return not _HEADER_UNSAFE.search(value)
