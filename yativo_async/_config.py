"""Frozen, keyword-only settings: rate-limit windows, retry policy, timeouts."""

from __future__ import annotations

import math
from typing import Final

import attrs

__all__ = ["DEFAULT_RATE_LIMITS", "RateLimit", "RetryPolicy", "Timeouts"]


def _positive_int(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"RateLimit.{attr.name} must be a positive int, got {value!r}")


def _positive_float(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
        value > 0 and math.isfinite(value)
    ):
        raise ValueError(f"{attr.name} must be a positive finite number, got {value!r}")


@attrs.frozen
class RateLimit:
    """At most ``limit`` requests in any sliding window of ``period`` seconds."""

    limit: int = attrs.field(validator=_positive_int)
    period: float = attrs.field(converter=float, validator=_positive_float)


DEFAULT_RATE_LIMITS: Final = (
    RateLimit(60, 60.0),
    RateLimit(3000, 3600.0),
    RateLimit(50_000, 86_400.0),
)


def _non_negative(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    # finite too: an infinite (or NaN) backoff or cap is a call that never ends
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
        value >= 0 and math.isfinite(value)
    ):
        raise ValueError(f"RetryPolicy.{attr.name} must be a finite number >= 0, got {value!r}")


def _attempts(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"RetryPolicy.max_attempts must be an int >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried (turned into a ``tenacity.AsyncRetrying`` per call).

    Args:
        max_attempts: attempts in all, the first included (1 disables retries).
        max_elapsed: seconds from the first attempt after which no new attempt starts.
        backoff_base: first backoff ceiling in seconds; it doubles per attempt (full jitter).
        backoff_max: ceiling of one backoff.
        max_retry_after: the longest ``Retry-After`` honoured by sleeping; longer, and the
            call fails at once with ``retry_after`` set.
        retry_statuses: statuses retried for every request.
        retry_500_idempotent: also retry 500 for idempotent requests.
        retry_connection_errors: retry connection errors and timeouts (idempotent requests;
            non-idempotent ones only when the request provably never left).

    Use ``attrs.evolve(policy, max_attempts=...)`` for a variant, and ``RetryPolicy.none()``
    to turn retries off.
    """

    max_attempts: int = attrs.field(default=4, validator=_attempts)
    max_elapsed: float = attrs.field(default=60.0, validator=_non_negative)
    backoff_base: float = attrs.field(default=0.5, validator=_non_negative)
    backoff_max: float = attrs.field(default=20.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({429, 502, 503, 504}), converter=frozenset
    )
    retry_500_idempotent: bool = True
    retry_connection_errors: bool = True

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries (one attempt)."""
        return cls(max_attempts=1)


@attrs.frozen(kw_only=True)
class Timeouts:
    """Finite by default: a hung server never hangs a caller for long.

    ``request`` bounds one attempt (waiting for a pooled connection, connect, send and read
    the whole body); ``connect`` bounds making a new connection (aiohttp only; a wait for a
    pooled one is bounded by ``request``).
    """

    request: float = attrs.field(default=30.0, validator=_positive_float)
    connect: float = attrs.field(default=10.0, validator=_positive_float)
