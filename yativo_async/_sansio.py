"""Pure protocol helpers: header parsing and request building. No I/O, no clock reads
(the current time is passed in), so each function is tested with recorded headers."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from urllib.parse import quote

import attrs

from ._config import RateLimit

__all__ = ["ServerLimits", "key_path", "parse_rate_limit_headers", "parse_retry_after"]

_EPOCH_THRESHOLD = 1_000_000_000.0  # a reset above this is an epoch timestamp, not a delta
_EPOCH_MS_THRESHOLD = 1_000_000_000_000.0


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
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - now_epoch)
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


def _reset_seconds(value: str, now_epoch: float) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return parse_retry_after(value, now_epoch=now_epoch)
    if number != number or number < 0:
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

    @property
    def empty(self) -> bool:
        return self == _EMPTY


_EMPTY = ServerLimits()

_ITEM_SPLIT = re.compile(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)")


def _parse_sf_list(value: str) -> list[tuple[str, dict[str, str]]]:
    """A forgiving reader for the Structured Field lists of the IETF drafts."""
    items = []
    for raw in _ITEM_SPLIT.split(value):
        parts = [p.strip() for p in raw.split(";")]
        if not parts or not parts[0]:
            continue
        head, params = parts[0], {}
        for part in parts[1:]:
            if "=" in part:
                k, v = part.split("=", 1)
                params[k.strip().lower()] = v.strip().strip('"')
        items.append((head.strip('"'), params))
    return items


def parse_rate_limit_headers(headers: Mapping[str, str], *, now_epoch: float) -> ServerLimits:
    """Read ``Retry-After``, ``X-RateLimit-*``/``RateLimit-*`` and the IETF draft's
    ``RateLimit-Policy``/``RateLimit`` fields. Malformed fields are ignored, as the draft asks.

    ``headers`` must have lower-case names.
    """
    if not headers:
        return _EMPTY
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
                    policies.append(RateLimit(int(quota), float(window)))
            except ValueError:
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

    for prefix in ("x-ratelimit-", "x-rate-limit-", "ratelimit-"):
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


_BAD_ID = re.compile(r"[\s/?#]")


def key_path(key_id: str, suffix: str = "") -> str:
    """``/apikey/{id}{suffix}`` with the id checked and quoted."""
    if not isinstance(key_id, str):
        raise TypeError(f"key_id must be a str, not {type(key_id).__name__}")
    if not key_id or _BAD_ID.search(key_id) or key_id in (".", ".."):
        raise ValueError(f"key_id {key_id!r} is not a valid key id")
    return f"/apikey/{quote(key_id, safe='')}{suffix}"
