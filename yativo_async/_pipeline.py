"""The send pipeline: one call, read top to bottom in `Pipeline.run`.

    run(call, options)
      attempt 1 ............................................ nearly every call ends here
      failed and retryable? tenacity (the `RetryPolicy`) judges attempt 1's failure, then
      drives attempts 2, 3 ... with backoff or the server's Retry-After
      a create/generate/rotate that may have reached the server -> OutcomeUnknownError
    one attempt
      1. token    the single-flight provider's current token (exchanged if needed)
      2. slot     a slot in every rate-limit window; a token that went stale while we
                  queued is never sent: the slot goes back unsent and steps 1-2 run again
      3. build    the request (`_sansio.build_request`): headers, token, 2FA code, body
      4. send     through the transport
      5. release  the slot, stamped now (the response is back, or the send failed)
      6. learn    what the response says about the server's limits (only ever stricter)
      7. replay   a 401 on a token that can be refreshed: clear it (compare-and-clear)
                  and run steps 1-6 once more; a second 401 is final
      8. error    a status that is not 2xx becomes its exception (a 3xx included: redirects
                  are not followed), as does a 2xx whose envelope reports a failure where
                  the call asks (`_sansio.error_from_response`, `_sansio.reported_failure`);
                  on a replay after an attempt that may have been processed, the statuses
                  the call names in ``done_on_replay`` mean it was done (a revoke's 404/409)

Rules:

1. Everything a call learns comes back as a value (`Outcome`); nothing is written into the
   call (`Call` is frozen). Counters live in `ClientStats` and are counted here only.
2. One response cannot stall the client: server hints are capped at the retry policy's
   ``max_retry_after`` (pauses) and the longest configured window (periods), with a warning.
3. Values the client sent (its token, the 2FA code, the API secret) are masked wherever a
   server echoes them into an error.
4. ``close()`` ends every call still running with `ClientClosedError` (never a
   ``CancelledError`` the caller did not ask for); a closed pipeline starts nothing.
5. Observers (``hooks=``, `_hooks.py`) see each step through a per-call `CallScope`; with
   none, ``scope`` is ``None`` and each step pays one ``is not None`` check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import tenacity

from ._auth import BearerToken, StaticTokenProvider, TokenProvider, TokenStats, TwoFactor
from ._config import RetryPolicy
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    OutcomeUnknownError,
    RateLimitError,
    YativoError,
)
from ._hooks import CallScope, Observers
from ._ratelimit import DEFAULT_MAX_WAIT, FleetStats, Lane, Limiter, LocalSlot, MaxWait, Slot
from ._retry import is_retryable, retrying
from ._sansio import (
    LIMIT_HEADERS,
    build_request,
    cap_server_limits,
    error_from_response,
    has_any,
    masked_request_id,
    parse_rate_limit_headers,
    reported_failure,
)
from ._transport import Request, Response, Transport

__all__ = ["Call", "ClientStats", "Options", "Outcome", "Pipeline"]

_log = logging.getLogger("yativo_async")
_new: Final = object.__new__

#: `asyncio.current_task`: before 3.12 a Python function around a lookup in asyncio's table
#: of running tasks, made here without that frame (once per call)
_running_tasks = getattr(asyncio.tasks, "_current_tasks", None)
_current_task: Final[Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None]] = (
    _running_tasks.get
    if sys.version_info < (3, 12) and isinstance(_running_tasks, dict)
    else asyncio.current_task
)


@attrs.define
class ClientStats:
    """What the client did. Counters only grow."""

    calls: int = 0
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    server_429s: int = 0
    auth_replays: int = 0
    tokens: TokenStats = attrs.field(factory=TokenStats)
    #: what the Redis limiter met (outages, fallback slots, re-seeds); zeros without Redis
    fleet: FleetStats = attrs.field(factory=FleetStats)

    @property
    def token_exchanges(self) -> int:
        """Token exchanges this client made (its provider's count)."""
        return self.tokens.exchanges

    def as_dict(self) -> dict[str, Any]:
        """The counters as a JSON-ready dict (what ``yativo demo --json`` prints)."""
        return {
            "calls": self.calls,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "attempts": self.attempts,
            "retries": self.retries,
            "server_429s": self.server_429s,
            "auth_replays": self.auth_replays,
            "token_exchanges": self.tokens.exchanges,
            "token_failures": self.tokens.failures,
            "token_refreshes": dict(self.tokens.refreshes),
            "redis_outages": self.fleet.redis_outages,
            "redis_fallback_slots": self.fleet.fallback_slots,
            "redis_reseeds": self.fleet.reseeds,
        }


@attrs.frozen(kw_only=True, slots=True)
class Call:
    """One logical call (all of its attempts), as a resource method describes it."""

    #: the operation's name, for messages and logs (``list``, ``create`` ...)
    name: str
    method: str
    #: below the client's ``base_url``, already quoted
    path: str
    body: Mapping[str, Any] | None = None
    #: send the bearer token (everything but the token exchange)
    auth: bool = True
    #: safe to replay when it may have reached the server
    idempotent: bool = True
    #: the 2FA code for attempt 1 (``X-2FA-Token``)
    code: str | None = None
    #: also send the code as the body's ``two_factor_token``
    code_in_body: bool = False
    #: where fresh codes come from for later attempts (a TOTP secret; a retry may come after
    #: the code's 30 s step has passed)
    renew_code: TwoFactor | None = None
    #: jump the rate-limit queue (the token exchange, which queued calls wait on)
    priority: bool = False
    #: for the message of an `OutcomeUnknownError`
    key_name: str | None = None
    key_id: str | None = None
    #: statuses that, on a replay after an attempt that may have been processed, mean the
    #: operation took effect (a revoke replayed after a lost response: 404/409)
    done_on_replay: frozenset[int] = frozenset()
    #: a 2xx body may still report failure (doc 000's ``success: false``): check it
    check_envelope: bool = False
    #: values in the request the server must not echo back into an error (the API secret)
    secrets: tuple[str, ...] = ()


@attrs.frozen(kw_only=True, slots=True)
class Options:
    """Per-call settings: the client's, or a ``with_options()`` view's."""

    timeout: float
    retry: RetryPolicy
    max_wait: MaxWait = DEFAULT_MAX_WAIT
    extra_headers: Mapping[str, str] | None = None
    #: the rate-limit lane: ``"interactive"`` waiters go before ``"batch"`` ones
    lane: Lane = "interactive"


class Outcome:
    """What a call ended with (a value: nothing writes to it after the call)."""

    __slots__ = (
        "_code", "_held", "_secrets", "_token", "attempts", "elapsed", "response", "sent_at"
    )

    def __init__(
        self,
        response: Response,
        sent_at: float,
        attempts: int,
        elapsed: float,
        secrets: tuple[str, ...] = (),
        token: BearerToken | None = None,
        code: str | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.response = response
        #: loop time at which the last attempt's request left
        self.sent_at = sent_at
        #: attempts made (the 401 replay inside an attempt not counted)
        self.attempts = attempts
        #: seconds from the call's start to its end, waits included
        self.elapsed = elapsed
        self._secrets = secrets
        self._token = token
        self._code = code
        self._held = pipeline

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must not come back in an error (rule 3): what the last attempt sent (its
        token, 2FA code and the call's own secrets) and the client's own secrets; masked in
        a decode error of the body. Worked out only when asked (a body that failed to
        decode)."""
        held = self._held.held() if self._held is not None else ()
        return _secrets(self._secrets + held, self._token, self._code)

    def __repr__(self) -> str:
        return (f"Outcome(status={self.response.status}, attempts={self.attempts}, "
                f"elapsed={self.elapsed:.3f})")


#: how long a token exchange may wait for its slot before a call's ``max_wait`` counts it as
#: waiting for budget (a Redis limiter's round trip for every slot is not a wait)
TOKEN_QUEUE_GRACE: Final = 0.1

#: the least time a request cancelled on its way stays in flight (`_release_after_cancel`)
CANCEL_HOLD: Final = 1.0


class Pipeline:
    """Runs calls for one client (and every ``with_options()`` view of it)."""

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        transport: Transport,
        limiter: Limiter,
        tokens: TokenProvider | None,
        stats: ClientStats,
        rng: random.Random,
        max_response_bytes: int | None = None,
        hooks: Observers | None = None,
    ) -> None:
        self.base_url = base_url
        #: every request carries it; the transport stops reading a body past it
        self.max_response_bytes = max_response_bytes
        self.headers = dict(headers)
        #: the client's TOTP secret, if it has one (see `held`)
        self.totp_secret: str | None = None
        #: priority calls (token exchanges) waiting for a rate-limit slot now
        self._priority_queued = 0
        #: the longest recent round trip (decaying), 0 until one came back
        self._rtt = 0.0
        #: slots of requests cancelled on their way, held a while (`_release_after_cancel`)
        self._cancel_holds: dict[object, tuple[Slot, asyncio.TimerHandle]] = {}
        #: calls in `_token_within`, woken when an exchange joins or leaves the queue
        self._token_watchers: list[asyncio.Future[None]] = []
        self.transport = transport
        self._try_acquire: Callable[..., Slot | None] | None = None
        self.limiter = limiter
        self.tokens = tokens
        self.stats = stats
        self._rng = rng
        #: the client's observers (rule 5); ``None``: nothing watches
        self.hooks = hooks
        if hooks is not None:
            hooks.bind(limiter)
        self.closed = False
        self._running: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Task[Any]] = set()
        #: set when the last running call ends (made by `close()` when it drains)
        self._drained: asyncio.Event | None = None
        self._closer: asyncio.Task[Any] | None = None
        #: the last bodiless request built, after the call, options and token that made it
        #: (see `_attempt`)
        self._last_request: tuple[Call, Options, BearerToken | None, Request] | None = None
        #: an optional hook of a provider: the server accepted this token
        self._confirm = getattr(tokens, "confirm", None)
        #: an optional hook of a provider: its token when one is ready without awaiting
        self._ready: Callable[[], BearerToken | None] | None = getattr(tokens, "ready", None)

        # A user's static token cannot change: a 401 on it is final, no replay.
        self._refreshable = tokens is not None and not isinstance(tokens, StaticTokenProvider)

    @property
    def limiter(self) -> Limiter:
        """The rate limiter every call takes its slot from."""
        return self._limiter

    @limiter.setter
    def limiter(self, limiter: Limiter) -> None:
        self._limiter = limiter
        #: an optional hook of a limiter: an interactive slot when one is free at once
        self._try_acquire = getattr(limiter, "try_acquire", None)

    async def run(self, call: Call, options: Options) -> Outcome:
        """Run ``call``: attempts under the retry policy; the response of the last, or its
        error."""
        if self.closed:
            raise ClientClosedError("this YativoClient is closed; create a new one")
        loop = asyncio.get_running_loop()
        task = _current_task(loop)
        stats = self.stats
        stats.calls += 1
        started = loop.time()
        policy = options.retry
        hooks = self.hooks
        scope = None if hooks is None else hooks.start(
            call.name, call.method, call.path, options.lane
        )
        if task is not None:
            self._running.add(task)
        try:
            try:
                try:
                    sent = await self._attempt(call, options, 1, False, scope, loop, started)
                    attempts = 1
                except YativoError as first:
                    if not is_retryable(first, policy, idempotent=call.idempotent):
                        raise
                    # Whether an attempt so far may have been processed (its response lost):
                    # a replay's answer is read in that light (step 8).
                    maybe_done = _outcome_unknown(first)

                    def before_sleep(state: tenacity.RetryCallState) -> None:
                        nonlocal maybe_done
                        failure = _failure(state)
                        maybe_done = maybe_done or _outcome_unknown(failure)
                        stats.retries += 1
                        if scope is not None:
                            scope.retry(state.attempt_number, state.upcoming_sleep, failure)
                        _log.debug(
                            "%s %s attempt %d failed (%s); retrying in %.2f s",
                            call.method, call.path, state.attempt_number,
                            type(failure).__name__, state.upcoming_sleep,
                        )

                    max_wait = options.max_wait
                    if max_wait is DEFAULT_MAX_WAIT:
                        max_wait = getattr(self._limiter, "max_wait", None)
                    # Tenacity judges attempt 1's failure like any other, then drives the rest.
                    async for attempt in retrying(
                        policy, idempotent=call.idempotent, rng=self._rng, started=started,
                        before_sleep=before_sleep, max_wait=max_wait,
                    ):
                        with attempt:
                            attempts = attempt.retry_state.attempt_number
                            if attempts == 1:
                                raise first
                            sent = await self._attempt(
                                call, options, attempts, maybe_done, scope, loop, None
                            )
            # The error the caller gets: what may have happened, or why the call ended.
            except (APIConnectionError, APIStatusError) as exc:
                if not call.idempotent and _outcome_unknown(exc):
                    raise _outcome_error(call) from exc
                raise
            except asyncio.CancelledError:
                if task is not None and task in self._closing:
                    if not _cancelled_by_others(task):
                        raise self._closed_error(call, task) from None
                    # Cancelled by its caller too (a request handler whose client left,
                    # then the shutdown): the caller's own cancel stays a CancelledError.
                    self._closing.discard(task)
                    task.uncancel()  # type: ignore[attr-defined]  # ours (3.11+: see cancelling())
                raise
        except BaseException as final:
            stats.failed += 1
            if scope is not None:
                scope.end(loop.time() - started, final)
            raise
        finally:
            if task is not None:
                self._running.discard(task)
                if self._drained is not None and self._running <= {self._closer}:
                    self._drained.set()
        stats.succeeded += 1
        # the last response's arrival (read once by the attempt) less the call's start
        sent.elapsed = elapsed = sent.elapsed - started
        if scope is not None:
            scope.end(elapsed, None)
        return sent

    async def _attempt(
        self, call: Call, options: Options, number: int, maybe_done: bool,
        scope: CallScope | None, loop: asyncio.AbstractEventLoop, clock: float | None,
    ) -> Outcome:
        """One attempt: steps 1-8 of the module docstring. Steps 1-6 are written inline,
        not in a coroutine of their own: a call in flight is resumed through one frame fewer
        each time its socket has news. ``clock``: the loop's time as the caller read it, if
        nothing was awaited since (then it is the send's time too, when nothing is awaited
        before the send either: the token ready and a slot free at once)."""
        code = call.code
        if number > 1 and call.renew_code is not None:
            code = await call.renew_code.code()
            clock = None
        limiter = self._limiter
        tokens = self.tokens
        if call.auth and tokens is None:
            raise ValueError(
                f"{call.name} needs credentials: give api_key/api_secret or access_token"
            )
        replayed = False
        while True:  # once, or twice when 7. replays a 401
            while True:  # 1-2. token, then slot
                token = None
                fresh = True
                if tokens is not None and call.auth:
                    ready = self._ready
                    token = ready() if ready is not None else None
                    if token is None:
                        token = await self._token_within(tokens, options)
                        clock = None
                    fresh = token.expires_at is None or (
                        loop.time() if clock is None else clock) < token.expires_at
                if scope is not None:
                    queued, waited_before = loop.time(), limiter.time_waited
                slot = None
                if self._try_acquire is not None and options.lane == "interactive":
                    slot = self._try_acquire(priority=call.priority)
                if slot is None:
                    clock = None
                    if call.priority:  # the token exchange, queued for budget (`_token_within`)
                        self._exchange_queued(1)
                    try:
                        slot = await limiter.acquire(
                            priority=call.priority, lane=options.lane, max_wait=options.max_wait
                        )
                    finally:
                        if call.priority:
                            self._exchange_queued(-1)
                # The limiter counts only real waits (a fast path adds nothing, and runs nothing
                # else meanwhile): the same waits as `YativoClient.time_waited_for_budget`.
                if scope is not None and limiter.time_waited > waited_before:
                    scope.rate_limit_wait(loop.time() - queued)
                if (
                    token is None or token.expires_at is None or not fresh
                    or (loop.time() if clock is None else clock) < token.expires_at
                ):
                    break
                # The token expired while we queued for budget (hours, when a day's budget is
                # spent): it is never sent. Nearly always a fresher one is ready (the provider
                # refreshes ahead of expiry, for whichever call asked first): send that, with
                # the slot in hand. Else the slot goes back unsent (holding it while the
                # exchange waits for budget could hold every slot of a window), the call
                # waits for the exchange and queues again. A token already stale when it
                # came (a lifetime shorter than its exchange takes) is sent as it is, and the
                # server judges it (a 401 is replayed once, step 7), rather than exchanging
                # tokens for ever.
                ready = self._ready
                newer = ready() if ready is not None else None
                if newer is not None and (
                    newer.expires_at is None or loop.time() < newer.expires_at
                ):
                    token = newer
                    break
                slot.release(sent=False)
            # A bodiless call with nothing per attempt (a list) sends the same request value as
            # the last one like it while the call, its options and the token are the same
            # objects: reuse it (requests are frozen values; this spares a header dict and a
            # Request per call). Calls, options and tokens are frozen, so identity is enough.
            cached = self._last_request
            if (
                cached is not None
                and cached[0] is call
                and cached[1] is options
                and cached[2] is token
                and code is None
            ):
                request = cached[3]
            else:
                request = build_request(
                    method=call.method,
                    url=self.base_url + call.path,
                    headers=self.headers,
                    token=None if token is None else token.value.get_secret_value(),
                    body=call.body,
                    code=code,
                    code_in_body=call.code_in_body,
                    extra_headers=options.extra_headers,
                    timeout=options.timeout,
                    max_response_bytes=self.max_response_bytes,
                )
                if call.body is None and code is None:
                    self._last_request = (call, options, token, request)
            self.stats.attempts += 1
            sent_at = loop.time() if clock is None else clock
            clock = None
            if scope is not None:
                scope.request(number)
            try:
                response = await self.transport.send(request)
            except BaseException as exc:
                try:
                    if scope is not None:
                        scope.response(number, None, loop.time() - sent_at, None, exc)
                finally:
                    if isinstance(exc, asyncio.CancelledError):
                        self._release_after_cancel(slot, loop, sent_at, options.timeout)
                    else:
                        slot.release()  # 5. stamped now: the server saw it no later
                raise
            now = loop.time()
            # 5. stamped now (the response is in: the server saw the request no later)
            if type(slot) is LocalSlot:
                slot.release_at(now)  # the limiter's own slot: no second clock reading
            else:
                slot.release()
            # a slow-moving high-water mark of round trips (see `_release_after_cancel`)
            rtt = now - sent_at
            self._rtt = rtt if rtt > self._rtt else self._rtt * 0.98
            if scope is not None:
                scope.response(number, response.status, now - sent_at,
                               masked_request_id(response.headers,
                                                 self._secrets(call, token, code)), None)
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug(
                    "%s %s -> %d (attempt %d, %.1f ms, request id %s)",
                    call.method, call.path, response.status, number, (now - sent_at) * 1000,
                    masked_request_id(response.headers, self._secrets(call, token, code))
                    or "-",
                )
            retry_after = None
            if response.status == 429 or has_any(response.headers, LIMIT_HEADERS):  # (cheap)
                retry_after = self._learn(response, now, options.retry.max_retry_after)
            if (
                response.status == 401 and token is not None and tokens is not None
                and self._refreshable and not replayed
            ):
                # 7. The token was revoked or expired early: clear it, replay once.
                tokens.invalidate(token)
                self.stats.auth_replays += 1
                replayed = True
                continue
            break
        status = response.status  # 8.
        if not 200 <= status < 300:  # (`is_success`, inline)
            if not (maybe_done and status in call.done_on_replay):
                raise error_from_response(
                    status, response.headers, response.body, retry_after=retry_after,
                    secrets=self._secrets(call, token, code),
                )
            _log.info("%s %s: HTTP %d on a replay after a lost response: it was done",
                      call.method, call.path, status)
        else:
            if call.check_envelope:
                failure = reported_failure(status, response.headers, response.body,
                                           secrets=self._secrets(call, token, code))
                if failure is not None:
                    raise failure
            if token is not None and self._confirm is not None:
                self._confirm(token)
        # `elapsed` is the response's arrival for now; `run` makes it the call's
        # `Outcome(response, sent_at, number, now, call.secrets, token, code, self)`, its
        # slots filled without a call (one per call: the hot path)
        outcome: Outcome = _new(Outcome)
        outcome.response = response
        outcome.sent_at = sent_at
        outcome.attempts = number
        outcome.elapsed = now
        outcome._secrets = call.secrets
        outcome._token = token
        outcome._code = code
        outcome._held = self
        return outcome

    async def _token_within(self, tokens: TokenProvider, options: Options) -> BearerToken:
        """The provider's token, waited for no longer than the call's own ``timeout`` while
        the exchange is on the network: a call with ``timeout=1`` does not wait out an
        exchange that takes the client's 30 s (and its retries). Time the exchange spends
        queued for rate-limit budget does not count against ``timeout``: that wait is the
        call's ``max_wait``'s, as for any request (a view's ``max_wait=1`` fails in 1 s,
        though the exchange queues under the client's own). The exchange itself goes on
        (the provider shields it) for the calls that wait longer."""
        loop = asyncio.get_running_loop()
        timeout = options.timeout
        max_wait = options.max_wait
        if max_wait is DEFAULT_MAX_WAIT:
            max_wait = getattr(self._limiter, "max_wait", None)
        started = loop.time()
        queued_for = 0.0  # time the exchange spent queued for budget while we waited
        pending = asyncio.ensure_future(tokens.get_token())
        try:
            while True:
                now = loop.time()
                if self._priority_queued:
                    if max_wait is not None:
                        # Past max_wait, or budget surely further off than it: fail now. (A
                        # limiter that asks Redis for every slot "queues" each exchange for
                        # a round trip: that much is not a wait for budget.)
                        limit = max(max_wait, TOKEN_QUEUE_GRACE)
                        error = self._no_budget_for_token(max_wait)
                        if queued_for >= limit or (
                            error.retry_after is not None
                            and error.retry_after > max_wait - queued_for
                        ):
                            raise error
                        step: float | None = limit - queued_for
                    else:
                        step = None
                else:
                    # the time we waited while the exchange was not queued for budget
                    on_network = now - started - queued_for
                    if on_network >= timeout:
                        raise APITimeoutError(
                            f"no token within the call's timeout of {timeout} s: the token "
                            "exchange is still running", maybe_sent=False,
                        )
                    step = timeout - on_network
                moved = loop.create_future()  # the exchange joins or leaves the queue
                self._token_watchers.append(moved)
                queued = bool(self._priority_queued)
                try:
                    await asyncio.wait((pending, moved), timeout=step,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not moved.done():
                        moved.cancel()
                        with contextlib.suppress(ValueError):
                            self._token_watchers.remove(moved)
                if queued:
                    queued_for += loop.time() - now
                if pending.done():
                    return pending.result()
        finally:
            if not pending.done():
                pending.cancel()

    def _release_after_cancel(
        self, slot: Slot, loop: asyncio.AbstractEventLoop, sent_at: float, timeout: float
    ) -> None:
        """A request cancelled on its way (a request handler whose client left) may still
        reach the server after the cancel: stamped now, its slot would free early and the
        server would see more than N in a window. So it stays in flight a while longer,
        then is stamped: twice the longest round trip seen lately or twice its own time so
        far, at least `CANCEL_HOLD` (a latency that jumps as the cancel comes), at most the
        request's timeout (which would have ended it anyway)."""
        if self.closed:  # closing: the limiter goes too, so stamp it now
            slot.release()
            return
        elapsed = loop.time() - sent_at
        margin = min(timeout, max(2 * self._rtt, 2 * elapsed, CANCEL_HOLD))
        holds = self._cancel_holds
        key = object()

        def stamp() -> None:
            if holds.pop(key, None) is not None:
                slot.release()

        holds[key] = (slot, loop.call_later(margin, stamp))

    def _exchange_queued(self, delta: int) -> None:
        """A token exchange of this client joins (+1) or leaves (-1) the queue for budget:
        calls waiting for its token switch between ``max_wait`` and ``timeout`` (above)."""
        self._priority_queued += delta
        watchers, self._token_watchers = self._token_watchers, []
        for moved in watchers:
            if not moved.done():
                moved.set_result(None)

    def _no_budget_for_token(self, max_wait: float) -> RateLimitError:
        """A call's ``max_wait`` ran out while the token exchange it needs waited for budget."""
        waits = [w.next_free_in for w in self._limiter.status()
                 if w.remaining == 0 and w.next_free_in is not None]
        estimate = getattr(self._limiter, "next_free_in", None)  # a limiter that asks Redis
        if not waits and estimate is not None and (guess := estimate()) is not None:
            waits.append(guess)
        return RateLimitError(
            f"client-side rate limit: the token exchange this call needs is waiting for "
            f"budget past max_wait={max_wait} s",
            retry_after=max(waits) if waits else None,
            from_client=True,
        )

    def held(self) -> tuple[str, ...]:
        """The client's own long-lived secrets (every API secret its provider has held, its
        TOTP secret): masked in every error whatever the call (rule 3), not only in the
        exchange that sends them."""
        held = getattr(self.tokens, "held_secrets", None)
        values = tuple(held()) if held is not None else ()
        return values if self.totp_secret is None else (*values, self.totp_secret)

    def _secrets(
        self, call: Call, token: BearerToken | None, code: str | None
    ) -> tuple[str, ...]:
        return _secrets(call.secrets + self.held(), token, code)

    # -- closing (rule 4) ------------------------------------------------------------------

    async def close(self, *, timeout: float | None = 0.0) -> None:
        """Start nothing more; let the calls still running finish for up to ``timeout``
        seconds (``None``: as long as they take), then end them with `ClientClosedError`."""
        self.closed = True
        me = self._closer = asyncio.current_task()
        try:
            if (timeout is None or timeout > 0) and self._running - {me}:
                self._drained = asyncio.Event()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._drained.wait(), timeout)
        finally:  # also when the close itself is cut short: no call outlives it
            for task in list(self._running):
                if task is not me and not task.done():
                    self._closing.add(task)
                    task.cancel()
        # Let each cancelled call reach its handler before the transport goes away.
        for _ in range(3):
            if not self._running - {me}:
                break
            await asyncio.sleep(0)
        # Slots held after a cancel are stamped now: the limiter closes after us.
        holds, self._cancel_holds = self._cancel_holds, {}
        for slot, handle in holds.values():
            handle.cancel()
            slot.release()
        if self.hooks is not None:
            await self.hooks.aclose()  # async hooks still running (`_hooks.py` rule 3)

    def _closed_error(self, call: Call, task: asyncio.Task[Any]) -> ClientClosedError:
        self._closing.discard(task)
        uncancel = getattr(task, "uncancel", None)  # 3.11+: undo the cancel we asked for
        if uncancel is not None:
            uncancel()
        return ClientClosedError(
            f"the client was closed while {call.method} {call.path} was running"
            + ("; it may have reached the server" if not call.idempotent else ""),
            maybe_sent=True,
        )

    def _learn(self, response: Response, now: float, max_pause: float) -> float | None:
        """Step 6: adopt what the server says about its limits (only ever stricter, and
        capped: rule 2). Returns the seconds to wait before a retry, when the response says:
        as the server said it (finite), so a wait longer than the retry policy allows fails
        the call at once with that ``retry_after`` instead of sleeping on it."""
        limiter = self.limiter
        said = parse_rate_limit_headers(response.headers, now_epoch=time.time())
        info, capped = cap_server_limits(
            said,
            max_pause=max_pause,
            max_period=max((rl.period for rl in limiter.limits), default=86_400.0),
        )
        if capped:
            _log.warning("suspect rate-limit hint from the server: %s", "; ".join(capped))
        if info.policies:
            limiter.adopt(info.policies)
        if info.limit is not None:
            limiter.adopt_unknown_period(info.limit)
        if response.status == 429:
            self.stats.server_429s += 1
            pause = info.retry_after if info.retry_after is not None else info.reset_after
            limiter.pause_until(now + (pause if pause is not None else 1.0))
            return said.retry_after if said.retry_after is not None else said.reset_after
        if info.remaining is not None and info.reset_after is not None:
            limiter.server_budget(info.remaining, now + info.reset_after)
        return said.retry_after


def _cancelled_by_others(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` was cancelled by someone besides `Pipeline.close` (which cancels it
    once). Python 3.10 cannot tell: there, close's error wins."""
    cancelling = getattr(task, "cancelling", None)
    return cancelling is not None and cancelling() > 1


def _secrets(
    given: tuple[str, ...], token: BearerToken | None, code: str | None
) -> tuple[str, ...]:
    """Rule 3: what an attempt sent that must not come back in an error (the call's own
    secrets, its token, its 2FA code)."""
    values = list(given)
    if token is not None:
        values.append(token.value.get_secret_value())
    if code is not None:
        values.append(code)
    return tuple(values)


def _failure(state: tenacity.RetryCallState) -> BaseException | None:
    outcome = state.outcome
    return outcome.exception() if outcome is not None else None


def _outcome_unknown(exc: BaseException | None) -> bool:
    """Whether a failed non-idempotent call may still have been processed by the server."""
    if isinstance(exc, APIConnectionError):
        return exc.maybe_sent
    if isinstance(exc, APIStatusError):
        return exc.status >= 500 and not (exc.status == 503 and exc.retry_after is not None)
    return False


_OUTCOME_HINT: Final = {
    "rotate": (
        "rotating key {key_id!r} may or may not have happened; it was not retried, since a "
        "second rotation would replace (and hide) the new secret of the first. Check the key "
        "before rotating again"
    ),
}


def _outcome_error(call: Call) -> OutcomeUnknownError:
    template = _OUTCOME_HINT.get(
        call.name,
        "{name} of key {key_name!r} may or may not have happened; it was not retried, since "
        "a duplicate key whose secret nobody saw is worse than an error. Check "
        "api_keys.list() before trying again",
    )
    message = template.format(name=call.name, key_name=call.key_name, key_id=call.key_id)
    return OutcomeUnknownError(
        message, operation=call.name, key_name=call.key_name, key_id=call.key_id
    )
