"""The exact sliding-window limiter.

Rules of this module:

1. The guarantee: never more than N requests in ANY window of length T *as the server sees
   them*, for every window at once, whatever the latency. A slot is taken before a request is
   sent and counted while it is in flight; it is stamped when its response comes back (or the
   request fails or is cancelled), and it frees exactly T after that stamp. The server saw the
   request no later than the stamp, so the slot frees no sooner than T after its arrival.
2. All windows are checked and taken together: a request refused by one takes nothing.
3. Waiters are served first come, first served; only the head of the queue is ever examined,
   and a single timer (for the head) is armed: waking is O(1) per freed slot, no herd.
4. A cancelled waiter takes nothing; a waiter cancelled after being granted gives its slot
   back unstamped (it never sent); a request cancelled in flight stamps its slot.
5. Time is the running loop's clock (``loop.time()``) and sleeping is done by the loop, so
   tests run days of traffic in virtual time.
6. Server hints only ever make it stricter than configured, never looser.
7. Lanes: ``"interactive"`` waiters are served before ``"batch"`` ones, FIFO within a lane
   (the token exchange, ``priority``, goes before both). A batch call may not take the
   ``interactive_reserve`` share of any window, so an interactive call finds budget at once
   while a batch job saturates the key.
8. The fast path: the limiter keeps a count of slots surely free in every window (a lower
   bound on the least free one). While it lasts, an interactive call with nobody ahead takes
   a slot without looking at the windows; when it runs out the windows are counted again.
   Time only frees slots and a sent release keeps the count, so the bound holds until a
   take (which spends it) or a stricter limit or seeded slots (which clear it).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections import deque
from collections.abc import Sequence
from typing import Final, Literal, Protocol, runtime_checkable

import attrs

from ._config import RateLimit
from ._errors import RateLimitError

_log = logging.getLogger("yativo_async")

#: windows a limiter keeps at most (configured and adopted): a server naming new periods
#: in every answer must not make each take cost more and more (the rest are ignored)
MAX_WINDOWS: Final = 16

__all__ = [
    "DEFAULT_MAX_WAIT",
    "FleetStats",
    "Lane",
    "Limiter",
    "LocalSlot",
    "MaxWait",
    "NullLimiter",
    "Slot",
    "SlidingWindowLimiter",
    "WindowStatus",
    "check_lane",
    "check_reserve",
    "reserved_slots",
]


class _Default(enum.Enum):
    DEFAULT_MAX_WAIT = "the limiter's own max_wait"


#: ``acquire(max_wait=DEFAULT_MAX_WAIT)``: the limiter's configured ``max_wait``
DEFAULT_MAX_WAIT: Final = _Default.DEFAULT_MAX_WAIT
#: seconds, ``None`` (no bound), or `DEFAULT_MAX_WAIT`
MaxWait = float | None | _Default
#: a call's priority lane: ``"interactive"`` waiters are served before ``"batch"`` ones
Lane = Literal["interactive", "batch"]


@attrs.frozen(kw_only=True)
class WindowStatus:
    """One window as `YativoClient.rate_limit_status()` reports it."""

    limit: int
    period: float
    used: int
    in_flight: int
    remaining: int
    #: seconds until the next slot frees (0 if one is free now, None if only a response can
    #: free one)
    next_free_in: float | None


@attrs.define
class FleetStats:
    """What the Redis limiter (`RedisRateLimiter`) met. Counters only grow."""

    #: times Redis became unreachable (each outage counted once)
    redis_outages: int = 0
    #: slots taken from the in-process fallback limiter while Redis was unreachable
    fallback_slots: int = 0
    #: times this process found Redis had lost the windows and put its own slots back
    reseeds: int = 0


class _Flight:
    """Slots taken and not yet released: one count for every window of a limiter (a slot
    is in all of them), so taking or releasing one is one update, and a window adopted
    while requests are in flight counts them too."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class _Window:
    __slots__ = ("_flight", "limit", "period", "releases")

    def __init__(self, limit: int, period: float, flight: _Flight | None = None) -> None:
        self.limit = limit
        self.period = period
        self._flight = _Flight() if flight is None else flight
        # Stamps (loop times) of completed requests, in order: each frees its slot at
        # stamp + period. The stamp itself is kept, so every window holds the same float
        # (one object per request, not one per window and request).
        self.releases: deque[float] = deque()

    @property
    def in_flight(self) -> int:
        return self._flight.n

    def purge(self, now: float) -> None:
        releases = self.releases
        period = self.period
        while releases and releases[0] + period <= now:
            releases.popleft()

    def free(self, now: float) -> int:
        self.purge(now)
        return self.limit - len(self.releases) - self.in_flight

    def next_free(self, now: float, reserved: int = 0) -> float | None:
        """When one slot (outside ``reserved`` ones) will be free, if only the clock has to
        move (None: a response must come back first)."""
        deficit = len(self.releases) + self.in_flight - (self.limit - reserved) + 1
        if deficit <= 0:
            return now
        if deficit <= len(self.releases):
            return self.releases[deficit - 1] + self.period
        return None

    def earliest_start(self, now: float, ahead: int, reserved: int = 0) -> float:
        """A lower bound on when the request after ``ahead`` queued ones may start.

        The window's slots free at: now (free ones), the stamped release times, and now + T
        (in flight: they come back no sooner than now). Each queued request takes the
        earliest and gives it back no sooner than T later, so the k-th pick is
        ``free_at[k % N] + (k // N) * T`` with ``free_at`` sorted.
        """
        self.purge(now)
        releases = self.releases
        # Negative when the server lowered the limit below the slots in use: then the first
        # -free frees only bring the count back to the limit, and index - free skips them.
        # A batch request may not use the ``reserved`` slots: its window is that much smaller.
        limit = self.limit - reserved
        free = limit - len(releases) - self.in_flight
        rounds, index = divmod(ahead, limit)
        if index < free:
            first = now
        elif index - free < len(releases):
            first = releases[index - free] + self.period
        else:
            first = now + self.period
        return first + rounds * self.period


class Slot(Protocol):
    """A taken slot. ``release()`` stamps it (the request was sent, or may have been);
    ``release(sent=False)`` gives it back untouched (it never left). Idempotent."""

    def release(self, *, sent: bool = True) -> None: ...


@runtime_checkable
class Limiter(Protocol):
    """What the pipeline needs from a rate limiter. `SlidingWindowLimiter` (one process),
    `yativo_async.RedisRateLimiter` (a fleet) and `NullLimiter` (limiting off) implement it.

    Times are the running loop's (``loop.time()``).
    """

    #: seconds spent waiting for budget, summed over all requests
    time_waited: float

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        """The windows in force (configured, or stricter ones the server announced)."""
        ...

    @property
    def waiting(self) -> int:
        """Callers queued for a slot now."""
        ...

    async def acquire(
        self,
        *,
        priority: bool = False,
        lane: Lane = "interactive",
        max_wait: MaxWait = DEFAULT_MAX_WAIT,
    ) -> Slot:
        """Wait for a slot in every window. ``priority`` jumps the queue (the token
        exchange, which every queued request waits on); ``lane`` is the call's priority lane.
        Raises `RateLimitError` when ``max_wait`` (this call's, else the limiter's) would be
        exceeded."""
        ...

    def adopt(self, limits: Sequence[RateLimit]) -> None:
        """Keep to ``limits`` too where they are stricter; never loosen."""
        ...

    def adopt_unknown_period(self, limit: int) -> None:
        """A quota whose window the server did not name."""
        ...

    def pause_until(self, when: float) -> None:
        """Start nothing before ``when``: the server said its budget is gone."""
        ...

    def server_budget(self, remaining: int, until: float) -> None:
        """The server says ``remaining`` requests are left until ``until``."""
        ...

    def status(self) -> list[WindowStatus]:
        """Per window: the budget left and when the next slot frees."""
        ...

    async def aclose(self) -> None:
        """Let go of what the limiter holds (a Redis connection, background releases)."""
        ...


class _Held(Protocol):
    @property
    def limit(self) -> int: ...

    @property
    def period(self) -> float: ...


def place_window(held: Sequence[_Held], new: RateLimit) -> tuple[str, int | None]:
    """Where a window the server names goes among the ``held`` ones (both limiters' rule):
    ``("tighten", i)``: window ``i`` has its period, hold it to the stricter limit;
    ``("skip", None)``: implied by one held (as long or longer, as strict);
    ``("add", None)``: a window of its own; ``("fold", i)``: no room (`MAX_WINDOWS`), so
    window ``i``, the nearest longer one, keeps to it (fewer than N in a longer period is
    fewer than N in this one), more strictly than needed. An adopted period is capped at
    the longest configured one, so a longer window exists; if not, ``("fold", None)``."""
    for i, w in enumerate(held):
        if abs(w.period - new.period) < 1e-9:
            return "tighten", i
    if any(w.period >= new.period and w.limit <= new.limit for w in held):
        return "skip", None
    if len(held) < MAX_WINDOWS:
        return "add", None
    longer = [i for i, w in enumerate(held) if w.period >= new.period]
    return "fold", (min(longer, key=lambda i: held[i].period) if longer else None)


class LocalSlot:
    """A slot of a `SlidingWindowLimiter`."""

    __slots__ = ("_limiter",)

    def __init__(self, limiter: SlidingWindowLimiter | None) -> None:
        self._limiter = limiter

    def release(self, *, sent: bool = True) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release(sent)

    def release_at(self, now: float) -> None:
        """`release` of a sent request, stamped ``now``: the running loop's time, which the
        caller has just read (the client, as each response comes in)."""
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release(True, now)


_NULL_SLOT: Final = LocalSlot(None)
_new_slot: Final = object.__new__


class _Waiter:
    __slots__ = ("batch", "future", "granted")

    def __init__(self, future: asyncio.Future[None], batch: bool) -> None:
        self.future = future
        self.batch = batch
        self.granted = False


def check_reserve(interactive_reserve: object) -> float:
    """``interactive_reserve`` as a float in [0, 1), or a ValueError/TypeError naming it."""
    if isinstance(interactive_reserve, bool) or not isinstance(interactive_reserve, (int, float)):
        raise TypeError(f"interactive_reserve must be a number, got {interactive_reserve!r}")
    if not 0 <= interactive_reserve < 1:
        raise ValueError("interactive_reserve must be a share in [0, 1) (0.1: batch calls may "
                         f"not take the last 10% of a window), got {interactive_reserve!r}")
    return float(interactive_reserve)


def reserved_slots(limit: int, share: float) -> int:
    """Slots of a window of ``limit`` that batch calls may not take: the share rounded up (so
    a small window still keeps one back), but never all of them (batch must move)."""
    if share <= 0 or limit <= 1:
        return 0
    return min(limit - 1, math.ceil(limit * share - 1e-9))


def check_lane(lane: object) -> Lane:
    if lane not in ("interactive", "batch"):
        raise ValueError(f"lane (priority) must be 'interactive' or 'batch', got {lane!r}")
    return lane


class SlidingWindowLimiter:
    """Exact sliding windows over the loop's clock. See the module docstring for the rules.

    Args:
        limits: the windows; all are enforced together.
        max_wait: ``None`` waits as long as needed; a number of seconds makes ``acquire()``
            fail with `RateLimitError` (``retry_after`` set) when the request could not
            start in time: at once if the queue ahead already says so, else when the
            time is up.
        interactive_reserve: the share of every window ``"batch"`` calls may not take.
    """

    def __init__(
        self,
        limits: Sequence[RateLimit],
        *,
        max_wait: float | None = None,
        interactive_reserve: float = 0.0,
    ) -> None:
        if not limits:
            raise ValueError("SlidingWindowLimiter needs at least one RateLimit (use [] on the "
                             "client to turn limiting off)")
        for limit in limits:
            if not isinstance(limit, RateLimit):
                raise TypeError(f"rate_limits must hold RateLimit values, got {limit!r}")
        if max_wait is not None and (not isinstance(max_wait, (int, float)) or max_wait < 0):
            raise ValueError(f"max_wait must be None or a number >= 0, got {max_wait!r}")
        self._configured = tuple(limits)
        self._flight = _Flight()
        self._windows = [_Window(rl.limit, rl.period, self._flight) for rl in limits]
        #: slots surely free in every window (a lower bound on the least free; rule 8): an
        #: interactive call with nobody ahead takes one without looking at the windows.
        #: Time only frees slots and a sent release keeps the count, so only a take, a
        #: stricter limit or seeded slots can lower it; those spend or clear it.
        self._credit = min(w.limit for w in self._windows)  # all empty
        self._max_wait = max_wait
        self._reserve = check_reserve(interactive_reserve)
        # Rule 7: one FIFO queue per lane; the interactive one is always served first.
        self._waiters: deque[_Waiter] = deque()
        self._batch: deque[_Waiter] = deque()
        self._n_waiting = 0
        self._n_batch = 0
        self._timer: asyncio.TimerHandle | None = None
        # A cap the server announced: at most _cap_left more starts before _cap_until.
        self._cap_left: int | None = None
        self._cap_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._too_many_windows = False
        #: seconds spent waiting for budget, summed over all requests
        self.time_waited = 0.0

    # -- public -------------------------------------------------------------------------

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        """The windows in force (configured, or stricter ones the server announced)."""
        return tuple(RateLimit(w.limit, w.period) for w in self._windows)

    async def acquire(
        self,
        *,
        priority: bool = False,
        lane: Lane = "interactive",
        max_wait: MaxWait = DEFAULT_MAX_WAIT,
    ) -> Slot:
        """Wait for a slot in every window (FIFO). ``priority`` jumps the queue (used for
        the token exchange, which every queued request is waiting on). ``max_wait``
        overrides the limiter's for this call."""
        batch = lane != "interactive" and check_lane(lane) == "batch" and not priority
        if not batch and (slot := self.try_acquire(priority=priority)) is not None:
            return slot
        loop = asyncio.get_running_loop()
        self._loop = loop
        now = loop.time()
        ahead = 0 if priority else (self._n_waiting if batch else self._n_waiting - self._n_batch)
        if not ahead and self._can_take(now, batch):
            self._take()
            return LocalSlot(self)
        if max_wait is DEFAULT_MAX_WAIT:
            max_wait = self._max_wait
        if max_wait is not None:
            start = self.earliest_start(now, ahead=ahead, batch=batch)
            if start - now > max_wait:
                raise self._budget_error(start - now, max_wait)
        waiter = _Waiter(loop.create_future(), batch)
        if priority:
            self._waiters.appendleft(waiter)
        elif batch:
            self._batch.append(waiter)
            self._n_batch += 1
        else:
            self._waiters.append(waiter)
        self._n_waiting += 1
        deadline_handle = None
        if max_wait is not None:
            deadline_handle = loop.call_at(now + max_wait, self._expire, waiter, max_wait)
        if not ahead:
            self._wake()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.granted:
                # Granted, but the caller left before sending: give the slot back.
                self._release(False)
            else:
                self._left(waiter)
                waiter.future.cancel()
                self._wake()
            raise
        except RateLimitError:
            self._left(waiter)
            self._wake()
            raise
        finally:
            if deadline_handle is not None:
                deadline_handle.cancel()
        self.time_waited += loop.time() - now
        return LocalSlot(self)

    def try_acquire(self, *, priority: bool = False) -> Slot | None:
        """An interactive slot at once, without awaiting, when it is surely free and nobody
        is ahead (rule 8), else ``None``: then await `acquire`. The client's hot path asks
        this first and spares a coroutine per call."""
        cap = self._cap_left
        if (
            self._credit > 0
            and (cap is None or cap > 0)
            and (priority or self._n_waiting == self._n_batch)
        ):
            # `_take` and `LocalSlot(self)`, inline: every call of the client's hot path
            self._flight.n += 1
            if cap is not None:
                self._cap_left = cap - 1
            self._credit -= 1
            slot = _new_slot(LocalSlot)
            slot._limiter = self
            return slot
        return None

    def _left(self, waiter: _Waiter) -> None:
        """A waiter left its queue without a slot (cancelled or expired)."""
        self._n_waiting -= 1
        if waiter.batch:
            self._n_batch -= 1

    def earliest_start(self, now: float, *, ahead: int, batch: bool = False) -> float:
        """A lower bound on when a request with ``ahead`` requests queued before it starts
        (a batch one may not use the reserved slots)."""
        start = max(
            w.earliest_start(now, ahead, self._reserved(w) if batch else 0)
            for w in self._windows
        )
        if self._cap_left is not None and now < self._cap_until and ahead >= self._cap_left:
            start = max(start, self._cap_until)
        return start

    def status(self) -> list[WindowStatus]:
        """Per window: used, in flight, remaining and when the next slot frees."""
        now = self._now()
        out = []
        for w in self._windows:
            free = w.free(now)
            nxt = w.next_free(now)
            out.append(
                WindowStatus(
                    limit=w.limit,
                    period=w.period,
                    used=len(w.releases) + w.in_flight,
                    in_flight=w.in_flight,
                    remaining=max(0, free),
                    next_free_in=0.0 if free > 0 else (None if nxt is None else nxt - now),
                )
            )
        return out

    @property
    def waiting(self) -> int:
        """Callers queued for a slot now."""
        return self._n_waiting

    @property
    def max_wait(self) -> float | None:
        """The configured longest wait for budget (``None``: as long as it takes)."""
        return self._max_wait

    def adopt(self, limits: Sequence[RateLimit]) -> None:
        """Make the windows stricter where ``limits`` says less; add windows it names that
        are not configured. Never loosens."""
        for rl in limits:
            action, i = place_window(self._windows, rl)
            if i is not None:  # tighten, or fold in
                self._windows[i].limit = min(self._windows[i].limit, rl.limit)
            if action == "fold" and not self._too_many_windows:  # once: said every time
                self._too_many_windows = True
                _log.warning("the server named more rate-limit windows than the %d "
                             "kept; %s is kept through a longer window", MAX_WINDOWS, rl)
            if action == "add":
                # A new window starts with the requests already sent inside it, read from
                # the longest window (every stamp of its period is kept, and an adopted
                # period is capped at the longest configured one): an empty history would
                # let a full window's worth through at once, and earn the 429 it announced.
                new = _Window(rl.limit, rl.period, self._flight)
                longest = max(self._windows, key=lambda w: w.period)
                since = self._now() - rl.period
                new.releases.extend(t for t in longest.releases if t > since)
                self._windows.append(new)
        self._credit = 0  # stricter limits: count again
        self._wake()

    def adopt_unknown_period(self, limit: int) -> None:
        """A quota whose window the server did not name (legacy ``X-RateLimit-Limit``):
        applied to the shortest window if it is stricter."""
        shortest = min(self._windows, key=lambda w: w.period)
        if limit < shortest.limit and limit > 0:
            shortest.limit = limit
            self._credit = 0

    def pause_until(self, when: float) -> None:
        """Start nothing before ``when`` (loop time): the server said its budget is gone."""
        self._cap(0, when)

    def server_budget(self, remaining: int, until: float) -> None:
        """The server says ``remaining`` requests are left until ``until`` (loop time).

        Adopted when it is less than this client's own windows would still let start
        before ``until`` (someone else on the same key, or a stricter limit, is spending
        it): then no more than that starts before ``until``. Compared with what the windows
        allow over that whole time, not with what is free now: an hourly budget of 49 left
        is stricter than a minute window of 100, though 100 are free this minute. Requests
        of ours still in flight may not have reached the server: they count against what
        is left.
        """
        now = self._now()
        horizon = until - now
        if horizon <= 0:
            return
        # A lower bound on what the windows let start before `until`: free now, plus a
        # window's worth for each period that ends strictly before it (a slot taken now
        # frees at now + period, which is not before an `until` exactly a period away).
        own = min(w.free(now) + w.limit * (math.ceil(horizon / w.period) - 1)
                  for w in self._windows)
        if remaining >= own:
            return
        self._cap(remaining - self._windows[0].in_flight, until)

    async def aclose(self) -> None:
        """Nothing to release (present for the `Limiter` protocol)."""
        return None

    def seed(self, frees_at: Sequence[Sequence[float]]) -> None:
        """Count slots used elsewhere (per window, the loop times they free at, in order):
        how `RedisRateLimiter` hands its own recent slots to its outage fallback."""
        now = self._now()
        for w, times in zip(self._windows, frees_at, strict=False):
            w.releases.extend(sorted(t - w.period for t in times if t > now))
        self._credit = 0

    def _cap(self, left: int, until: float) -> None:
        now = self._now()
        if self._cap_left is not None and now < self._cap_until:
            left = min(left, self._cap_left)  # two announcements: keep the stricter
            until = max(until, self._cap_until)
        self._cap_left = left
        self._cap_until = until
        self._arm_timer(now)

    # -- internals ----------------------------------------------------------------------

    def _now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return self._loop.time() if self._loop is not None else 0.0

    def _reserved(self, w: _Window) -> int:
        return reserved_slots(w.limit, self._reserve)

    def _can_take(self, now: float, batch: bool = False) -> bool:
        if self._cap_left is not None:
            if now >= self._cap_until:
                self._cap_left = None
            elif self._cap_left <= 0:
                return False
        if batch:
            return all(w.free(now) >= 1 + self._reserved(w) for w in self._windows)
        if self._credit > 0:
            return True
        self._credit = max(0, min(w.free(now) for w in self._windows))
        return self._credit > 0

    def _take(self) -> None:
        self._flight.n += 1
        if self._cap_left is not None:
            self._cap_left -= 1
        if self._credit > 0:
            self._credit -= 1

    def _release(self, sent: bool, now: float | None = None) -> None:
        self._flight.n -= 1
        if sent:
            if now is None:
                now = self._now()
            for w in self._windows:
                w.releases.append(now)
        if self._n_waiting:
            self._wake()

    def _head(self) -> _Waiter | None:
        """The next waiter to serve: interactive (and priority) first, then batch."""
        for queue in (self._waiters, self._batch):
            while queue and queue[0].future.done():  # cancelled or expired: drop it
                queue.popleft()
            if queue:
                return queue[0]
        return None

    def _wake(self) -> None:
        """Grant slots to the head of the queue while budget allows; arm one timer."""
        now = self._now()
        while (head := self._head()) is not None and self._can_take(now, head.batch):
            (self._batch if head.batch else self._waiters).popleft()
            self._take()
            self._left(head)
            head.granted = True
            head.future.set_result(None)
        self._arm_timer(now, head)

    def _arm_timer(self, now: float, head: _Waiter | None = None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if head is None:
            head = self._head()
            if head is None:
                return
        when = now
        if self._cap_left is not None and self._cap_left <= 0 and now < self._cap_until:
            when = self._cap_until
        for w in self._windows:
            reserved = self._reserved(w) if head.batch else 0
            if w.free(now) >= 1 + reserved:
                continue
            nxt = w.next_free(now, reserved)
            if nxt is None:
                return  # a response will come back and call _wake
            when = max(when, nxt)
        loop = self._loop or asyncio.get_running_loop()
        self._timer = loop.call_at(when, self._wake)

    def _expire(self, waiter: _Waiter, max_wait: float) -> None:
        if not waiter.future.done():
            self._wake()  # budget that frees at this very moment goes to the waiter first
        if waiter.future.done():
            return
        now = self._now()
        # Position in the queue decides the estimate; the head has nobody ahead. A batch
        # waiter also has every interactive one ahead of it.
        ahead = 0
        queues = (self._waiters, self._batch) if waiter.batch else (self._waiters,)
        for queue in queues:
            for other in queue:
                if other is waiter:
                    break
                if not other.future.done():
                    ahead += 1
        retry_after = max(0.0, self.earliest_start(now, ahead=ahead, batch=waiter.batch) - now)
        waiter.future.set_exception(self._budget_error(retry_after, max_wait))

    def _budget_error(self, retry_after: float, max_wait: float) -> RateLimitError:
        return RateLimitError(
            f"client-side rate limit: no budget within max_wait={max_wait} s "
            f"(budget returns in about {retry_after:.1f} s)",
            retry_after=retry_after,
            from_client=True,
        )


class NullLimiter:
    """Limiting turned off (``rate_limits=[]``). ``max_wait`` still bounds how long a call
    waits out a server 429's ``Retry-After`` (the client's own budget is never waited for)."""

    time_waited = 0.0
    waiting = 0
    limits: tuple[RateLimit, ...] = ()

    def __init__(self, *, max_wait: float | None = None) -> None:
        self.max_wait = max_wait

    async def acquire(
        self,
        *,
        priority: bool = False,
        lane: Lane = "interactive",
        max_wait: MaxWait = DEFAULT_MAX_WAIT,
    ) -> Slot:
        return _NULL_SLOT

    def try_acquire(self, *, priority: bool = False) -> Slot:
        """Always a slot, at once."""
        return _NULL_SLOT

    def status(self) -> list[WindowStatus]:
        return []

    def adopt(self, limits: Sequence[RateLimit]) -> None:
        return None

    def adopt_unknown_period(self, limit: int) -> None:
        return None

    def pause_until(self, when: float) -> None:
        return None

    def server_budget(self, remaining: int, until: float) -> None:
        return None

    async def aclose(self) -> None:
        return None
