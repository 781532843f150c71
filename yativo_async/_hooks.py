"""Event hooks: what a client tells the code that watches it (dashboards, logs, tracing).

Rules of this module:

1. Events are small frozen values that hold no secret: no API secret, no token, no 2FA code,
   no request or response body, no header but the request id. Errors appear by class name
   only (a message may quote what a server echoed).
2. Observing never breaks a call: an exception in a hook is logged (once per hook, with its
   traceback; later ones at DEBUG) and the call goes on. Only ``KeyboardInterrupt`` /
   ``SystemExit`` pass through.
3. Observing never slows a call: a sync hook runs inline (keep it short); an async hook is
   started as a task and not awaited. ``aclose()`` waits up to `DRAIN_GRACE` seconds for
   those still running, then cancels them.
4. No observer, no cost: the pipeline holds ``None`` and checks it once per step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs

if TYPE_CHECKING:
    from ._ratelimit import Limiter, WindowStatus

__all__ = [
    "DRAIN_GRACE",
    "CallEndEvent",
    "CallScope",
    "CallStartEvent",
    "Hooks",
    "Observer",
    "Observers",
    "RateLimitWaitEvent",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "TokenExchangeEvent",
    "observers",
]

_log = logging.getLogger("yativo_async")

#: seconds ``aclose()`` gives async hooks still running before cancelling them (rule 3)
DRAIN_GRACE: Final = 1.0
#: seconds another thread waits for the client's loop to read its budget (a busy loop makes
#: a gauge skip one reading rather than stall an exporter)
BUDGET_READ_TIMEOUT: Final = 1.0

#: while a client's `Observers` hands an event to its observers: the set its async hooks'
#: tasks join, so closing that client waits for (and cancels) its own hooks' tasks only, not
#: those another client sharing the same `Hooks` started
_client_tasks: contextvars.ContextVar[set[asyncio.Task[Any]] | None] = contextvars.ContextVar(
    "yativo_async_hook_tasks", default=None
)

# Call ids are unique in the process, so one observer (an `OpenTelemetry`) may watch several
# clients. The counter couples nothing: it only names calls.
_call_ids = itertools.count(1)


@attrs.frozen(kw_only=True, slots=True)
class CallStartEvent:
    """A call (all its attempts) begins."""

    #: identifies the call in every event about it (unique in the process)
    call_id: int
    #: the operation (``list``, ``create``, ``token exchange`` ...)
    operation: str
    method: str
    #: below the base URL (a key id may appear; never a secret)
    path: str
    #: the rate-limit lane (``interactive`` or ``batch``)
    lane: str


@attrs.frozen(kw_only=True, slots=True)
class RequestEvent:
    """A request is about to be sent (its token and rate-limit slot taken)."""

    call_id: int
    operation: str
    method: str
    path: str
    #: 1 for the first attempt; a 401 replay keeps its attempt's number
    attempt: int


@attrs.frozen(kw_only=True, slots=True)
class ResponseEvent:
    """A request came back: a response (``status``), or a failed send (``error``)."""

    call_id: int
    operation: str
    method: str
    path: str
    attempt: int
    #: the HTTP status, ``None`` when the send failed
    status: int | None
    #: seconds from send to response (or failure)
    elapsed: float
    #: the server's ``X-Request-Id``, if it sent one
    request_id: str | None
    #: the exception's class name when the send failed
    error: str | None


@attrs.frozen(kw_only=True, slots=True)
class RetryEvent:
    """An attempt failed and will be retried after ``wait`` seconds (fired before the wait)."""

    call_id: int
    operation: str
    method: str
    path: str
    #: the attempt that failed
    attempt: int
    #: seconds until the next attempt (backoff, or the server's ``Retry-After``)
    wait: float
    #: the failure's class name (``ServerError``, ``RateLimitError`` ...)
    error: str
    #: its HTTP status, when it had one
    status: int | None


@attrs.frozen(kw_only=True, slots=True)
class RateLimitWaitEvent:
    """A request waited for rate-limit budget (fired after the wait, only when it waited).

    The waits are those `YativoClient.time_waited_for_budget` sums: with ``redis=``, taking a
    slot is a round trip to Redis, so every request reports one.
    """

    call_id: int
    operation: str
    method: str
    path: str
    #: seconds spent queued for a slot
    waited: float
    lane: str


@attrs.frozen(kw_only=True, slots=True)
class TokenExchangeEvent:
    """The client's token provider exchanged (or tried to exchange) its key pair."""

    #: why: ``cold``, ``expiry``, ``early`` (background refresh), ``401``, ``forced``,
    #: ``explicit``
    reason: str
    ok: bool
    #: seconds the exchange took (waits for budget and retries included)
    elapsed: float
    #: the new token's lifetime in seconds, when ``ok`` (``None`` for an ``explicit``
    #: exchange: that token is the caller's, not the client's)
    expires_in: float | None
    #: the failure's class name, when not ``ok``
    error: str | None
    #: the token came from the fleet's shared cache (Redis), not from an exchange
    shared: bool = False


@attrs.frozen(kw_only=True, slots=True)
class CallEndEvent:
    """A call ended: its one summary (what a dashboard plots per operation)."""

    call_id: int
    operation: str
    method: str
    path: str
    ok: bool
    #: the last response's HTTP status (``None`` when none came back)
    status: int | None
    attempts: int
    retries: int
    #: seconds spent queued for rate-limit budget, summed over attempts
    waited: float
    #: seconds from start to end, waits included
    elapsed: float
    #: the exception's class name when not ``ok``
    error: str | None


class Observer:
    """What ``YativoClient(hooks=...)`` takes: `Hooks` (your callables) or
    `yativo_async.OpenTelemetry`. Methods run synchronously on the client's loop and must
    not block; each default does nothing."""

    def bind(self, budget: Callable[[], list[WindowStatus]]) -> None:
        """Called once per client watched: ``budget()`` returns the client's rate-limit
        windows (`WindowStatus`) and may be called from any thread (a metrics exporter's)."""

    def wants(self, event: str) -> bool:
        """Whether to call the method named ``event`` at all (default: it is overridden)."""
        return getattr(type(self), event) is not getattr(Observer, event)

    def call_start(self, event: CallStartEvent) -> None:
        """A call begins (in the caller's task, before anything else of the call)."""

    def request(self, event: RequestEvent) -> None:
        """A request is about to be sent."""

    def response(self, event: ResponseEvent) -> None:
        """A request came back, or its send failed."""

    def retry(self, event: RetryEvent) -> None:
        """An attempt failed; the next one follows after ``event.wait`` seconds."""

    def rate_limit_wait(self, event: RateLimitWaitEvent) -> None:
        """A request waited for rate-limit budget."""

    def token_exchange(self, event: TokenExchangeEvent) -> None:
        """The token provider exchanged its key pair (in the exchange's own task)."""

    def call_end(self, event: CallEndEvent) -> None:
        """A call ended (in the caller's task, after everything else of the call)."""

    async def aclose(self) -> None:
        """The client is closing (finish what is pending)."""


E = TypeVar("E")
#: a hook: called with the event; may be ``async`` (started as a task, rule 3)
Hook = Callable[[E], "Awaitable[None] | None"]
HookArg = Hook[E] | Sequence[Hook[E]] | None


def _hook_tuple(value: object, name: str) -> tuple[Callable[[Any], Any], ...]:
    if value is None:
        return ()
    items: list[object] = list(value) if isinstance(value, (list, tuple)) else [value]
    fns: list[Callable[[Any], Any]] = []
    for item in items:
        if not callable(item):
            raise TypeError(f"{name} must be a callable or a list of callables, "
                            f"not {type(item).__name__}")
        fns.append(item)
    return tuple(fns)


class _Calls(Generic[E]):
    """One event's hooks, run per rule 2 and 3."""

    __slots__ = ("_owner", "fns")

    def __init__(self, fns: tuple[Callable[[E], Any], ...], owner: Hooks) -> None:
        self.fns = fns
        self._owner = owner

    def __call__(self, event: E) -> None:
        for fn in self.fns:
            try:
                result = fn(event)
            except (Exception, asyncio.CancelledError) as exc:  # a hook's own: the call goes on
                self._owner._failed(fn, exc)
                continue
            if result is not None and inspect.isawaitable(result):
                self._owner._start(fn, result)


class Hooks(Observer):
    """Your callables, one (or a list) per event; each sync or ``async``.

    Args:
        on_request: `RequestEvent`, before each request is sent.
        on_response: `ResponseEvent`, when each request comes back or fails.
        on_retry: `RetryEvent`, before the wait that precedes a retry.
        on_rate_limit_wait: `RateLimitWaitEvent`, after a request waited for budget.
        on_token_exchange: `TokenExchangeEvent`, after each exchange of the key pair.
        on_call_end: `CallEndEvent`, once per call.

    A hook that raises is logged once (then at DEBUG) and never breaks the call. An async
    hook runs as a task the client does not wait for (up to one second at ``aclose()``).

    Raises:
        TypeError: a hook that is not callable.
    """

    def __init__(
        self,
        *,
        on_request: HookArg[RequestEvent] = None,
        on_response: HookArg[ResponseEvent] = None,
        on_retry: HookArg[RetryEvent] = None,
        on_rate_limit_wait: HookArg[RateLimitWaitEvent] = None,
        on_token_exchange: HookArg[TokenExchangeEvent] = None,
        on_call_end: HookArg[CallEndEvent] = None,
    ) -> None:
        self._failures: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_request = _Calls(_hook_tuple(on_request, "on_request"), self)
        self._on_response = _Calls(_hook_tuple(on_response, "on_response"), self)
        self._on_retry = _Calls(_hook_tuple(on_retry, "on_retry"), self)
        self._on_rate_limit_wait = _Calls(
            _hook_tuple(on_rate_limit_wait, "on_rate_limit_wait"), self
        )
        self._on_token_exchange = _Calls(
            _hook_tuple(on_token_exchange, "on_token_exchange"), self
        )
        self._on_call_end = _Calls(_hook_tuple(on_call_end, "on_call_end"), self)

    def wants(self, event: str) -> bool:
        """Whether any hook listens for events of ``kind`` (events nobody wants are never built)."""
        calls = getattr(self, "_on_" + event, None)
        return calls is not None and bool(calls.fns)

    def request(self, event: RequestEvent) -> None:
        """Run the ``on_request`` hooks with ``event``; a failing hook is logged, never raised."""
        self._on_request(event)

    def response(self, event: ResponseEvent) -> None:
        """Run the ``on_response`` hooks with ``event``; a failing hook is logged, never raised."""
        self._on_response(event)

    def retry(self, event: RetryEvent) -> None:
        """Run the ``on_retry`` hooks with ``event``; a failing hook is logged, never raised."""
        self._on_retry(event)

    def rate_limit_wait(self, event: RateLimitWaitEvent) -> None:
        """Run the ``on_rate_limit_wait`` hooks with ``event``; a failing hook is logged, never
        raised."""
        self._on_rate_limit_wait(event)

    def token_exchange(self, event: TokenExchangeEvent) -> None:
        """Run the ``on_token_exchange`` hooks with ``event``; a failing hook is logged, never
        raised."""
        self._on_token_exchange(event)

    def call_end(self, event: CallEndEvent) -> None:
        """Run the ``on_call_end`` hooks with ``event``; a failing hook is logged, never raised."""
        self._on_call_end(event)

    def __repr__(self) -> str:
        names = [n for n in ("request", "response", "retry", "rate_limit_wait",
                             "token_exchange", "call_end") if getattr(self, "_on_" + n).fns]
        return f"Hooks({', '.join('on_' + n for n in names)})"

    # -- rule 2 and 3 ---------------------------------------------------------------------

    def _failed(self, fn: object, exc: BaseException) -> None:
        name = getattr(fn, "__qualname__", None) or repr(fn)
        if id(fn) in self._failures:
            _log.debug("hook %s failed again: %s", name, type(exc).__name__)
            return
        self._failures.add(id(fn))
        _log.warning("hook %s raised %s; the call goes on (logged once per hook)",
                     name, type(exc).__name__, exc_info=exc)

    def _start(self, fn: object, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        client_tasks = _client_tasks.get()
        if client_tasks is not None:
            client_tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if client_tasks is not None:
                client_tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                assert exc is not None
                self._failed(fn, exc)

        task.add_done_callback(done)

    async def aclose(self) -> None:
        """Give async hooks still running a moment to finish, then cancel them. Never raises.

        A client closing calls this only for the tasks its own calls started (one `Hooks`
        may watch several clients); called directly, it ends every one."""
        await _drain(self._tasks)


async def _drain(tasks: set[asyncio.Task[Any]]) -> None:
    """Give ``tasks`` (async hooks still running) `DRAIN_GRACE` seconds, then cancel them."""
    pending = {t for t in tasks if not t.done()}
    if not pending:
        return
    _done, late = await asyncio.wait(pending, timeout=DRAIN_GRACE)
    for task in late:
        task.cancel()
    if late:
        _log.warning("%d async hook(s) still running at close were cancelled", len(late))
        # bounded too: a hook that swallows its cancellation must not hold close() up
        await asyncio.wait(late, timeout=DRAIN_GRACE)


class Observers:
    """Every observer of one client; what the pipeline holds (``None`` when there is none).

    For each event, the bound methods of the observers that want it (`Observer.wants`): an
    event nobody wants is never built. Each call isolates each observer (rule 2): one that
    raises is logged once and the rest still see the event.
    """

    __slots__ = ("_failed", "budget", "call_end_fns", "call_start_fns", "hook_tasks", "items",
                 "loop", "rate_limit_wait_fns", "request_fns", "response_fns", "retry_fns",
                 "token_exchange_fns")

    def __init__(self, items: Sequence[Observer]) -> None:
        self.items = tuple(items)
        self._failed: set[tuple[int, str]] = set()
        #: the tasks of `Hooks`' async hooks that this client's events started
        self.hook_tasks: set[asyncio.Task[Any]] = set()
        #: the loop the client's calls run on (seen at each call's start)
        self.loop: asyncio.AbstractEventLoop | None = None
        #: the budget reader given to the observers (held here: they may hold it weakly)
        self.budget: Callable[[], list[WindowStatus]] | None = None
        self.call_start_fns = self._wanted("call_start")
        self.request_fns = self._wanted("request")
        self.response_fns = self._wanted("response")
        self.retry_fns = self._wanted("retry")
        self.rate_limit_wait_fns = self._wanted("rate_limit_wait")
        self.token_exchange_fns = self._wanted("token_exchange")
        self.call_end_fns = self._wanted("call_end")

    def _wanted(self, event: str) -> tuple[Callable[[Any], None], ...]:
        return tuple(getattr(item, event) for item in self.items if item.wants(event))

    def start(self, operation: str, method: str, path: str, lane: str) -> CallScope:
        """A call begins: its scope (which reports `CallStartEvent`)."""
        self.loop = asyncio.get_running_loop()
        return CallScope(self, operation, method, path, lane)

    def bind(self, limiter: Limiter) -> None:
        """Give each observer a thread-safe view of ``limiter``'s budget."""

        def budget() -> list[WindowStatus]:
            # The limiter belongs to its loop: read it there when that loop runs on another
            # thread (a metrics exporter's thread calls this); a gauge may skip a beat, but
            # it never races the loop.
            loop = self.loop
            if loop is None or not loop.is_running() or _running_loop() is loop:
                return limiter.status()

            async def read() -> list[WindowStatus]:
                return limiter.status()

            future = asyncio.run_coroutine_threadsafe(read(), loop)
            try:
                return future.result(BUDGET_READ_TIMEOUT)
            except concurrent.futures.TimeoutError:
                future.cancel()
                return []

        self.budget = budget
        for item in self.items:
            item.bind(budget)

    def emit(self, fns: tuple[Callable[[Any], None], ...], event: object) -> None:
        mark = _client_tasks.set(self.hook_tasks)
        try:
            self._emit(fns, event)
        finally:
            _client_tasks.reset(mark)

    def _emit(self, fns: tuple[Callable[[Any], None], ...], event: object) -> None:
        for fn in fns:
            try:
                fn(event)
            except (Exception, asyncio.CancelledError) as exc:  # the call goes on (rule 2)
                owner = getattr(fn, "__self__", fn)
                key = (id(owner), type(event).__name__)
                if key in self._failed:
                    _log.debug("observer %r failed again on %s", owner, type(event).__name__)
                    continue
                self._failed.add(key)
                _log.warning("observer %r raised %s on %s; the call goes on (logged once)",
                             owner, type(exc).__name__, type(event).__name__, exc_info=exc)

    def token_exchange(self, event: TokenExchangeEvent) -> None:
        """What the token provider calls (``on_exchange``)."""
        if self.token_exchange_fns:
            self.emit(self.token_exchange_fns, event)

    async def aclose(self) -> None:
        for item in self.items:
            if type(item).aclose is Hooks.aclose:
                # One `Hooks` may watch other clients too: end only what ours started.
                await _drain(self.hook_tasks)
                continue
            try:
                await item.aclose()
            except Exception as exc:
                _log.warning("observer %r failed to close: %s", item, type(exc).__name__)


class CallScope:
    """One observed call: builds the events someone wants and keeps what its
    `CallEndEvent` sums up."""

    __slots__ = ("_obs", "attempts", "call_id", "lane", "method", "operation", "path",
                 "retries", "status", "waited")

    def __init__(self, obs: Observers, operation: str, method: str, path: str,
                 lane: str) -> None:
        self._obs = obs
        self.call_id = next(_call_ids)
        self.operation = operation
        self.method = method
        self.path = path
        self.lane = lane
        self.attempts = 0
        self.retries = 0
        self.waited = 0.0
        self.status: int | None = None
        if obs.call_start_fns:
            obs.emit(obs.call_start_fns, CallStartEvent(
                call_id=self.call_id, operation=operation, method=method, path=path,
                lane=lane,
            ))

    def request(self, attempt: int) -> None:
        self.attempts = max(self.attempts, attempt)
        obs = self._obs
        if obs.request_fns:
            obs.emit(obs.request_fns, RequestEvent(
                call_id=self.call_id, operation=self.operation, method=self.method,
                path=self.path, attempt=attempt,
            ))

    def response(self, attempt: int, status: int | None, elapsed: float,
                 request_id: str | None, error: BaseException | None) -> None:
        self.status = status
        obs = self._obs
        if obs.response_fns:
            obs.emit(obs.response_fns, ResponseEvent(
                call_id=self.call_id, operation=self.operation, method=self.method,
                path=self.path, attempt=attempt, status=status, elapsed=elapsed,
                request_id=request_id, error=None if error is None else type(error).__name__,
            ))

    def retry(self, attempt: int, wait: float, error: BaseException | None) -> None:
        self.retries += 1
        obs = self._obs
        if obs.retry_fns:
            status = getattr(error, "status", None)
            obs.emit(obs.retry_fns, RetryEvent(
                call_id=self.call_id, operation=self.operation, method=self.method,
                path=self.path, attempt=attempt, wait=wait,
                error=type(error).__name__ if error is not None else "?",
                status=status if isinstance(status, int) else None,
            ))

    def rate_limit_wait(self, waited: float) -> None:
        self.waited += waited
        obs = self._obs
        if obs.rate_limit_wait_fns:
            obs.emit(obs.rate_limit_wait_fns, RateLimitWaitEvent(
                call_id=self.call_id, operation=self.operation, method=self.method,
                path=self.path, waited=waited, lane=self.lane,
            ))

    def end(self, elapsed: float, error: BaseException | None) -> None:
        obs = self._obs
        if not obs.call_end_fns:
            return
        obs.emit(obs.call_end_fns, CallEndEvent(
            call_id=self.call_id, operation=self.operation, method=self.method,
            path=self.path, ok=error is None, status=self.status, attempts=self.attempts,
            retries=self.retries, waited=self.waited, elapsed=elapsed,
            error=None if error is None else type(error).__name__,
        ))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def observers(hooks: Observer | Sequence[Observer] | None) -> Observers | None:
    """``hooks=`` as the client takes it -> what the pipeline holds.

    Raises:
        TypeError: something that is not a `Hooks` / `Observer`.
    """
    if hooks is None:
        return None
    if isinstance(hooks, Observer):
        items = [hooks]
    elif isinstance(hooks, (list, tuple)):
        items = list(hooks)
    else:
        raise TypeError(
            "hooks must be a yativo_async.Hooks, a yativo_async.OpenTelemetry, or a list "
            f"of them, not {type(hooks).__name__}"
        )
    for item in items:
        if not isinstance(item, Observer):
            raise TypeError(
                "hooks must be a yativo_async.Hooks, a yativo_async.OpenTelemetry, or a list "
                f"of them, not {type(item).__name__}"
            )
    return Observers(items) if items else None
