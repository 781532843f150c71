"""`RetryPolicy` -> ``tenacity.AsyncRetrying``.

Rules: retries are bounded by attempts AND by time (on the loop's clock, so virtual-time
tests see it); ``Retry-After`` wins over backoff when present, and one longer than the policy
allows fails at once instead of sleeping; non-idempotent requests are retried only when the
failure proves the server did not act; cancellation is never retried.
"""

from __future__ import annotations

import asyncio
import logging
import random

import tenacity

from ._config import RetryPolicy
from ._errors import APIConnectionError, APIStatusError, RateLimitError

__all__ = ["build_retrying", "is_retryable"]

_log = logging.getLogger("yativo_async")


def is_retryable(exc: BaseException, policy: RetryPolicy, *, idempotent: bool) -> bool:
    """Whether ``exc`` may be retried under ``policy``. Pure."""
    if getattr(exc, "_from_token_provider", False):
        return False  # the token provider has its own backoff
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


class _Stop(tenacity.stop.stop_base):
    def __init__(self, policy: RetryPolicy, started: float) -> None:
        self._policy = policy
        self._started = started

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        policy = self._policy
        if retry_state.attempt_number >= policy.max_attempts:
            return True
        elapsed = asyncio.get_running_loop().time() - self._started
        if elapsed >= policy.max_elapsed:
            return True
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        return retry_after is not None and (
            retry_after > policy.max_retry_after or elapsed + retry_after > policy.max_elapsed
        )


class _Wait(tenacity.wait.wait_base):
    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self._policy = policy
        self._rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        policy = self._policy
        attempt = retry_state.attempt_number
        ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)  # full jitter


class _Retry(tenacity.retry_base):
    def __init__(self, policy: RetryPolicy, idempotent: bool) -> None:
        self._policy = policy
        self._idempotent = idempotent

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return False
        exc = outcome.exception()
        return exc is not None and is_retryable(exc, self._policy, idempotent=self._idempotent)


def build_retrying(
    policy: RetryPolicy,
    *,
    idempotent: bool,
    rng: random.Random,
    describe: str = "",
    counter: list[int] | None = None,
) -> tenacity.AsyncRetrying:
    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        wait = retry_state.upcoming_sleep
        if counter is not None:
            counter[0] += 1
        _log.debug(
            "%s attempt %d failed (%s); retrying in %.2f s",
            describe,
            retry_state.attempt_number,
            exc.__class__.__name__ if exc is not None else "?",
            wait,
        )

    return tenacity.AsyncRetrying(
        stop=_Stop(policy, asyncio.get_running_loop().time()),
        wait=_Wait(policy, rng),
        retry=_Retry(policy, idempotent),
        reraise=True,
        sleep=asyncio.sleep,
        before_sleep=before_sleep,
    )
