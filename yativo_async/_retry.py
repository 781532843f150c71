"""`RetryPolicy` -> ``tenacity.AsyncRetrying``.

Rules: retries are bounded by attempts AND by time (on the loop's clock, so virtual-time
tests see it); ``Retry-After`` wins over backoff when present, and one longer than the policy
allows fails at once instead of sleeping; non-idempotent requests are retried only when the
failure proves the server did not act; cancellation is never retried; an error that is not
a `YativoError` (a bug, a caller's 2FA callable failing) is never retried.

The decisions are pure functions (`is_retryable`, `should_stop`, `backoff`); `retrying`
wraps them in tenacity's stop/wait/retry strategies for the pipeline.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import tenacity

from ._config import RetryPolicy
from ._errors import APIConnectionError, APIStatusError, RateLimitError, YativoError

__all__ = ["backoff", "is_retryable", "retrying", "should_stop"]


def is_retryable(exc: BaseException, policy: RetryPolicy, *, idempotent: bool) -> bool:
    """Whether ``exc`` may be retried under ``policy``. Pure."""
    if not isinstance(exc, YativoError) or exc.from_token_exchange:
        return False  # a bug, or a token exchange (the token provider has its own backoff)
    if isinstance(exc, APIConnectionError):
        return policy.retry_connection_errors and (idempotent or not exc.maybe_sent)
    if isinstance(exc, RateLimitError):
        return not exc.from_client and 429 in policy.retry_statuses
    if isinstance(exc, APIStatusError):
        status = exc.status
        if idempotent:
            return status in policy.retry_statuses or (
                status == 500 and policy.retry_500_idempotent
            )
        # A non-idempotent request is replayed only when the answer proves it was not
        # processed: 503 with Retry-After is the server saying "not now".
        return status == 503 and exc.retry_after is not None and 503 in policy.retry_statuses
    return False


def should_stop(
    policy: RetryPolicy, attempt: int, elapsed: float, exc: BaseException,
    max_wait: float | None = None,
) -> bool:
    """After failed attempt number ``attempt`` (1-based), ``elapsed`` seconds into the call:
    give up? A server's 429 asking for a longer wait than the call's ``max_wait`` (its
    budget for waiting on rate limits) ends it at once, as the limiter does. Pure."""
    if attempt >= policy.max_attempts or elapsed >= policy.max_elapsed:
        return True
    retry_after = exc.retry_after if isinstance(exc, YativoError) else None
    return retry_after is not None and (
        retry_after > policy.max_retry_after or elapsed + retry_after > policy.max_elapsed
        or (max_wait is not None and isinstance(exc, RateLimitError) and retry_after > max_wait)
    )


def backoff(policy: RetryPolicy, attempt: int, exc: BaseException, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt``: the server's
    ``Retry-After`` when it gave one, else exponential backoff with full jitter."""
    retry_after = exc.retry_after if isinstance(exc, YativoError) else None
    if retry_after is not None:
        return float(retry_after)
    ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** (attempt - 1))
    return rng.uniform(0, ceiling)


def _failure(retry_state: tenacity.RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    return outcome.exception() if outcome is not None and outcome.failed else None


class _Stop(tenacity.stop.stop_base):
    def __init__(self, policy: RetryPolicy, started: float, max_wait: float | None) -> None:
        self._policy = policy
        self._started = started
        self._max_wait = max_wait

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        exc = _failure(retry_state)
        elapsed = asyncio.get_running_loop().time() - self._started
        return exc is None or should_stop(
            self._policy, retry_state.attempt_number, elapsed, exc, self._max_wait
        )


class _Wait(tenacity.wait.wait_base):
    def __init__(self, policy: RetryPolicy, rng: random.Random, started: float) -> None:
        self._policy = policy
        self._rng = rng
        self._started = started

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = _failure(retry_state)
        if exc is None:
            return 0.0
        wait = backoff(self._policy, retry_state.attempt_number, exc, self._rng)
        # never past max_elapsed (a Retry-After that would be stops the call: `should_stop`)
        left = self._policy.max_elapsed - (asyncio.get_running_loop().time() - self._started)
        return max(0.0, min(wait, left))


class _Retry(tenacity.retry_base):
    def __init__(self, policy: RetryPolicy, idempotent: bool) -> None:
        self._policy = policy
        self._idempotent = idempotent

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        exc = _failure(retry_state)
        return exc is not None and is_retryable(exc, self._policy, idempotent=self._idempotent)


def retrying(
    policy: RetryPolicy,
    *,
    idempotent: bool,
    rng: random.Random,
    started: float,
    before_sleep: Callable[[tenacity.RetryCallState], None],
    max_wait: float | None = None,
) -> tenacity.AsyncRetrying:
    """Tenacity driving one call's attempts under ``policy``; ``started`` is the loop time
    of attempt 1; ``before_sleep`` sees every retry (the pipeline counts and logs there);
    ``max_wait``: the call's limit on waiting for rate-limit budget (see `should_stop`)."""
    return tenacity.AsyncRetrying(
        stop=_Stop(policy, started, max_wait),
        wait=_Wait(policy, rng, started),
        retry=_Retry(policy, idempotent),
        reraise=True,
        sleep=asyncio.sleep,
        before_sleep=before_sleep,
    )
