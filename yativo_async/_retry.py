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
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tenacity

from ._config import RetryPolicy
from ._errors import APIConnectionError, APIStatusError, RateLimitError

__all__ = ["backoff", "is_retryable", "retry_after_failure", "should_stop"]

_log = logging.getLogger("yativo_async")
T = TypeVar("T")


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


def should_stop(policy: RetryPolicy, attempt: int, elapsed: float, exc: BaseException) -> bool:
    """After failed attempt number ``attempt`` (1-based), ``elapsed`` seconds into the call:
    give up? Pure; tenacity's stop and the client's first-attempt fast path both use it."""
    if attempt >= policy.max_attempts or elapsed >= policy.max_elapsed:
        return True
    retry_after = getattr(exc, "retry_after", None)
    return retry_after is not None and (
        retry_after > policy.max_retry_after or elapsed + retry_after > policy.max_elapsed
    )


def backoff(policy: RetryPolicy, attempt: int, exc: BaseException, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt``: the server's
    ``Retry-After`` when it gave one, else exponential backoff with full jitter."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return float(retry_after)
    ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** (attempt - 1))
    return rng.uniform(0, ceiling)


class _Stop(tenacity.stop.stop_base):
    def __init__(self, policy: RetryPolicy, started: float, offset: int) -> None:
        self._policy = policy
        self._started = started
        self._offset = offset

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        elapsed = asyncio.get_running_loop().time() - self._started
        attempt = retry_state.attempt_number + self._offset
        return exc is None or should_stop(self._policy, attempt, elapsed, exc)


class _Wait(tenacity.wait.wait_base):
    def __init__(self, policy: RetryPolicy, rng: random.Random, offset: int) -> None:
        self._policy = policy
        self._rng = rng
        self._offset = offset

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if exc is None:
            return 0.0
        return backoff(self._policy, retry_state.attempt_number + self._offset, exc, self._rng)


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


def _log_retry(describe: str, attempt: int, exc: BaseException | None, wait: float) -> None:
    _log.debug(
        "%s attempt %d failed (%s); retrying in %.2f s",
        describe,
        attempt,
        exc.__class__.__name__ if exc is not None else "?",
        wait,
    )


async def retry_after_failure(
    policy: RetryPolicy,
    first_error: Exception,
    attempt: Callable[[int], Awaitable[T]],
    *,
    idempotent: bool,
    rng: random.Random,
    started: float,
    describe: str = "",
    counter: list[int] | None = None,
) -> T:
    """Attempt 1 already failed with ``first_error``; retry ``attempt(n)`` for n >= 2 under
    ``policy`` (tenacity drives attempts 2 and later). Re-raises when the policy says stop.

    The first attempt runs outside tenacity because nearly every call succeeds at once,
    and setting tenacity up costs more CPU per call than the rest of the client's pipeline.
    """
    if not is_retryable(first_error, policy, idempotent=idempotent):
        raise first_error
    loop = asyncio.get_running_loop()
    if should_stop(policy, 1, loop.time() - started, first_error):
        raise first_error
    wait = backoff(policy, 1, first_error, rng)
    _log_retry(describe, 1, first_error, wait)
    if counter is not None:
        counter[0] += 1
    await asyncio.sleep(wait)

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        outcome = retry_state.outcome
        if counter is not None:
            counter[0] += 1
        _log_retry(
            describe,
            retry_state.attempt_number + 1,
            outcome.exception() if outcome is not None else None,
            retry_state.upcoming_sleep,
        )

    retrying = tenacity.AsyncRetrying(
        stop=_Stop(policy, started, offset=1),
        wait=_Wait(policy, rng, offset=1),
        retry=_Retry(policy, idempotent),
        reraise=True,
        sleep=asyncio.sleep,
        before_sleep=before_sleep,
    )
    async for state in retrying:
        with state:
            result = await attempt(state.retry_state.attempt_number + 1)
        if state.retry_state.outcome is not None and not state.retry_state.outcome.failed:
            return result
    raise AssertionError("unreachable: tenacity re-raises the last failure")  # pragma: no cover
