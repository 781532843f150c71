"""Many processes, one key: the rate-limit budget and the bearer token shared through Redis
(extra ``redis``).

Rules of this module:

1. One atomic Lua script per slot taken, on Redis's own clock (``TIME``): no process's clock
   matters, and all windows are checked and taken together, as in `SlidingWindowLimiter`.
2. The same exact guarantee across the fleet: a slot counts while its request is in flight
   and frees one window after the response (the release script stamps it with Redis's
   clock, which reads no earlier than the response). An in-flight slot carries a lease
   (``now + lease + period``), so a process that dies mid-request frees its slots in the
   end instead of leaking them forever.
3. Only the head of a process-local FIFO queue polls Redis; a local release wakes it, and
   other processes' releases are seen by polling at most every ``poll`` seconds.
4. One token exchange for the fleet: a lock with expiry (released by compare-and-delete,
   never another holder's), waiters read the cached token.
5. A token at rest in Redis is encrypted (AES-GCM) under a key derived from the API secret:
   someone with Redis but not the secret cannot read or forge it.
6. Cluster-ready: every key of one budget carries the same hash tag (``{name}``), so each
   script touches one cluster slot; a ``RedisCluster`` works as a ``Redis`` does.
7. Leases follow the request timeout: an in-flight slot's lease is what an attempt can last
   plus a margin, renewed in the background while the call is legitimately still running,
   so a dead process's slots come back within the lease, not after ten minutes.
8. Lanes across the fleet: the lane and the reserve go into the script; a batch caller may
   not take the reserved share, and takes nothing while an interactive caller waits anywhere
   in the fleet (each waiting interactive caller leaves a short-lived mark).
9. Redis loses the windows (restart without persistence, flush, failover): an epoch marker
   tells. Each process puts back the slots it used itself in windows still open (in flight,
   and stamped ones: it knows them exactly) and no slot is granted until a grace has passed,
   so a restart costs a short pause, never a burst past the limit.
10. Redis unreachable: ``fallback="fail"`` (default) raises `RedisUnavailableError` before
    anything is sent; ``"local"`` goes on with an in-process limiter at ``local_share`` of the
    budget. Logged once per outage, counted in `FleetStats`; Redis is tried again every
    ``retry_redis`` seconds and used again by itself when it answers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final

from ._config import RateLimit
from ._errors import RateLimitError, RedisUnavailableError, TokenUnavailableError
from ._models import AccessToken
from ._ratelimit import (
    DEFAULT_MAX_WAIT,
    FleetStats,
    Lane,
    MaxWait,
    SlidingWindowLimiter,
    Slot,
    WindowStatus,
    check_lane,
    check_reserve,
    place_window,
)
from ._secret import Secret

__all__ = [
    "LEASE_MARGIN",
    "RedisRateLimiter",
    "RedisTokenCache",
    "check_fallback",
    "connect_redis",
    "redis_key_id",
]

#: seconds added to the request timeout for an in-flight slot's lease (rule 7)
LEASE_MARGIN: Final = 5.0
#: seconds ``aclose()`` waits for releases still on their way to Redis
CLOSE_WAIT: Final = 1.0

_log = logging.getLogger("yativo_async")

# KEYS: pause, epoch, grace, interactive waiters, then one sorted set per window (all under
# one hash tag: one cluster slot).
# ARGV: 1 slot id, 2 lease, 3 lane ('i' interactive, 'b' batch, 'p' priority), 4 reserve
# share, 5 the epoch this process knows ('' at first), 6 a fresh epoch id, 7 grace seconds,
# 8 seconds a batch caller naps while an interactive one waits, then (limit, period, shift) per
# window. A member is a slot id; its score is when the slot frees, in Redis seconds. A window
# of its own has shift 0; a window adopted from a server's answer (shift > 0) has no set of
# its own: it reads the set of the longest configured window (its KEYS entry), whose member
# scored s was stamped at s - period - shift, so every request of the fleet counts in it,
# including those sent before it was adopted and by processes that have not adopted it.
# Returns {status, value, in_flight, epoch[, counts]}: status 1 granted (value: Redis now;
# counts: per window, the slots the fleet had in it before this one), 0 refused
# (value: seconds to wait), -1 the epoch changed (Redis lost the windows: re-seed first).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[6]
  redis.call('SET', KEYS[2], epoch)
  if ARGV[5] ~= '' then
    -- this process knew an earlier epoch: Redis lost the windows (restart, flush, failover)
    local grace = tonumber(ARGV[7])
    redis.call('SET', KEYS[3], tostring(now + grace), 'PX', math.ceil(grace * 1000) + 1)
  end
end
if ARGV[5] ~= '' and epoch ~= ARGV[5] then
  return {-1, epoch, 0, epoch}
end
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
local grace_until = tonumber(redis.call('GET', KEYS[3]) or '0')
if grace_until > paused then paused = grace_until end
if paused > now then
  return {0, tostring(paused - now), 0, epoch}
end
local lane = ARGV[3]
if lane == 'b' then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  if redis.call('ZCARD', KEYS[4]) > 0 then
    -- an interactive call waits somewhere in the fleet: it goes first
    return {0, ARGV[8], 1, epoch}
  end
end
local lease = tonumber(ARGV[2])
local share = tonumber(ARGV[4])
local wait = 0
local in_flight = 0
local counts = {}
for i = 5, #KEYS do
  local limit = tonumber(ARGV[3 * i - 6])
  local period = tonumber(ARGV[3 * i - 5])
  local shift = tonumber(ARGV[3 * i - 4])
  local cap = limit
  if lane == 'b' and share > 0 and limit > 1 then
    cap = limit - math.min(limit - 1, math.ceil(limit * share - 1e-9))
  end
  local used
  local before = 0
  if shift == 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    used = redis.call('ZCARD', KEYS[i])
  else
    used = redis.call('ZCOUNT', KEYS[i], '(' .. (now + shift), '+inf')
    if used >= cap then
      before = redis.call('ZCOUNT', KEYS[i], '-inf', now + shift)
    end
  end
  counts[i - 4] = used
  if used >= cap then
    local rank = before + used - cap
    local entry = redis.call('ZRANGE', KEYS[i], rank, rank, 'WITHSCORES')
    local frees = tonumber(entry[2]) - shift
    if frees - now > wait then
      wait = frees - now
      if frees > now + period then in_flight = 1 else in_flight = 0 end
    end
  end
end
if wait > 0 then
  if lane == 'i' then
    -- batch callers anywhere hold back until this one is served (or its mark lapses)
    local mark = math.min(wait, tonumber(ARGV[8])) + 1
    redis.call('ZADD', KEYS[4], now + mark, ARGV[1])
    redis.call('EXPIRE', KEYS[4], math.ceil(mark) + 1)
  end
  return {0, tostring(wait), in_flight, epoch}
end
redis.call('ZREM', KEYS[4], ARGV[1])
for i = 5, #KEYS do
  if tonumber(ARGV[3 * i - 4]) == 0 then
    local period = tonumber(ARGV[3 * i - 5])
    redis.call('ZADD', KEYS[i], now + lease + period, ARGV[1])
    redis.call('EXPIRE', KEYS[i], math.ceil(lease + period) + 1)
  end
end
return {1, tostring(now), 0, epoch, counts}
"""

# KEYS: the interactive waiters, then one sorted set per window. ARGV: '1' (sent: stamp) or
# '0' (unsent: remove), slot id, then the period of each window. Returns Redis now.
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREM', KEYS[1], ARGV[2])
for i = 2, #KEYS do
  if ARGV[1] == '1' then
    redis.call('ZADD', KEYS[i], 'XX', now + tonumber(ARGV[1 + i]), ARGV[2])
  else
    redis.call('ZREM', KEYS[i], ARGV[2])
  end
end
return tostring(now)
"""

# KEYS: epoch, then one sorted set per window. ARGV: 1 the epoch this process knows, 2 lease,
# then the period of each window, then the ids of the slots this process has in flight.
# Extends their leases (only while still in flight: a stamped slot is never touched).
# Returns {epoch or '', Redis now}.
_KEEP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local epoch = redis.call('GET', KEYS[1])
if epoch ~= ARGV[1] then
  return {epoch or '', tostring(now)}
end
local lease = tonumber(ARGV[2])
local n = #KEYS - 1
for i = 2, #KEYS do
  local period = tonumber(ARGV[1 + i])
  for j = 3 + n, #ARGV do
    local score = tonumber(redis.call('ZSCORE', KEYS[i], ARGV[j]) or '0')
    if score > now + period then
      redis.call('ZADD', KEYS[i], 'XX', now + lease + period, ARGV[j])
      redis.call('EXPIRE', KEYS[i], math.ceil(lease + period) + 1)
    end
  end
end
return {epoch, tostring(now)}
"""


def _put_slots_back(*, first_key: int, first_arg: int) -> str:
    """The Lua both `_RESEED` and `_PUT_BACK` run: from KEYS[first_key] on, one sorted set
    per window; from ARGV[first_arg] on, per window its period, a count and that many
    (score, id) pairs (a score of 0: still in flight, frees a lease and a period from now).
    Adds each slot not already there (NX: never moves one). Needs ``now`` and ``lease``."""
    return f"""local j = {first_arg}
for i = {first_key}, #KEYS do
  local period = tonumber(ARGV[j])
  local count = tonumber(ARGV[j + 1])
  j = j + 2
  for k = 1, count do
    local score = tonumber(ARGV[j])
    if score == 0 then score = now + lease + period end
    if score > now then
      redis.call('ZADD', KEYS[i], 'NX', score, ARGV[j + 1])
    end
    j = j + 2
  end
  redis.call('EXPIRE', KEYS[i], math.ceil(lease + period) + 1)
end"""


# KEYS: epoch, grace, then one sorted set per window. ARGV: 1 a fresh epoch id, 2 grace
# seconds, 3 lease, 4 the epoch this process knows (nothing to do if Redis still has it),
# then per window: its period, a count, and that many (score, id) pairs;
# a score of 0 marks a slot still in flight. Puts back what this process used in the
# windows still open and holds every grant back for the grace (so every process can do
# the same). Returns the epoch.
_RESEED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local epoch = redis.call('GET', KEYS[1])
if epoch == ARGV[4] then
  return epoch  -- already re-seeded into this epoch (the keeper and a caller both noticed)
end
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local grace = tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if now + grace > current then
  redis.call('SET', KEYS[2], tostring(now + grace), 'PX', math.ceil(grace * 1000) + 1)
end
local lease = tonumber(ARGV[3])
""" + _put_slots_back(first_key=3, first_arg=5) + """
return epoch
"""

# KEYS: the pause key. ARGV: seconds from now. Only ever extends.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untilt = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilt > current then
  redis.call('SET', KEYS[1], tostring(untilt), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1)
end
return 1
"""

# KEYS: the lock. ARGV: the holder's token. Deletes only our own lock.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: the lock. ARGV: its holder, milliseconds. Extends the lock while we hold it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: one sorted set per window. ARGV: 1 lease, then per window: its period, a count, and
# that many (score, id) pairs; a score of 0 marks a slot still in flight. Adds the slots a
# process took in its in-process fallback while Redis was unreachable (NX: never moves one).
_PUT_BACK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lease = tonumber(ARGV[1])
""" + _put_slots_back(first_key=1, first_arg=2) + """
return 1
"""

_NOW = """
local t = redis.call('TIME')
return tostring(tonumber(t[1]) + tonumber(t[2]) / 1000000)
"""


def _import_redis() -> Any:
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("sharing through Redis needs: pip install 'yativo-async[redis]'") from exc
    return redis_asyncio


_SCHEMES: Final = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


def connect_redis(redis: Any) -> tuple[Any, bool]:
    """A URL or a ``redis.asyncio.Redis`` / ``RedisCluster``; returns (client, whether we
    own it). URLs: ``redis://``, ``rediss://`` (TLS), ``unix://`` (a socket), and
    ``redis+cluster://`` / ``rediss+cluster://`` (a cluster, from one of its nodes)."""
    if isinstance(redis, str):
        scheme, sep, rest = redis.partition("://")
        if not sep or scheme.lower() not in _SCHEMES:
            raise ValueError(
                "redis URL must start with one of "
                f"{', '.join(s + '://' for s in _SCHEMES)}; got scheme {scheme!r}"
            )
        redis_asyncio = _import_redis()
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.retry import Retry

        # A pooled connection goes stale when Redis restarts: retry once or twice on a
        # fresh one, quickly, before calling Redis unreachable; bounded connect and read
        # times so an unreachable host fails fast instead of hanging a call.
        # A Redis that does not answer in time is not asked again (each try would hold the
        # call as long again): a timeout marks it unreachable at once.
        options: dict[str, Any] = {
            "retry": Retry(ExponentialBackoff(cap=0.1, base=0.01), 2),
            "retry_on_error": [RedisConnectionError],
            "socket_connect_timeout": 2.0,
            "socket_timeout": 2.0,
        }
        try:
            if scheme.lower().endswith("+cluster"):
                base = scheme.lower().removesuffix("+cluster")
                return redis_asyncio.RedisCluster.from_url(f"{base}://{rest}", **options), True
            return redis_asyncio.from_url(redis, **options), True
        except Exception as exc:  # redis-py's own reason; never the URL (it may hold a password)
            raise ValueError(
                f"redis URL ({scheme}://...) cannot be used: {exc.__class__.__name__}"
                + (": a cluster URL needs a host and port" if "+cluster" in scheme.lower()
                   else "")
            ) from None
    if not all(hasattr(redis, name) for name in ("register_script", "get", "set")):
        raise TypeError("redis must be a URL, a redis.asyncio.Redis or a "
                        "redis.asyncio.RedisCluster")
    if type(redis).__module__.split(".")[:2] in (["redis", "client"], ["redis", "cluster"]):
        raise TypeError("redis must be an asyncio client (redis.asyncio.Redis or "
                        "redis.asyncio.RedisCluster), not the synchronous "
                        f"{type(redis).__module__}.{type(redis).__name__}")
    return redis, False


def redis_key_id(identity: str) -> str:
    """A key name part for an identity (an API key or a token) that does not reveal it."""
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class RedisRateLimiter:
    """The exact sliding-window limiter, shared by every process using the same Redis and
    ``name`` (see the module rules). Same interface as `SlidingWindowLimiter`.

    Args:
        redis: a ``redis.asyncio.Redis`` or ``RedisCluster`` (or a URL).
        name: the budget's identity (e.g. ``redis_key_id(api_key)``).
        limits: the windows.
        max_wait: as for `SlidingWindowLimiter`.
        interactive_reserve: the share of every window ``"batch"`` calls may not take.
        lease: seconds an in-flight slot may stay unreleased without being renewed (a
            crashed holder's slots free after ``lease + period``); the client sets it to
            the request timeout plus `LEASE_MARGIN`. Slots still legitimately in flight are
            renewed in the background.
        grace: after Redis lost the windows (restart, flush, failover), seconds in which
            no slot is granted while every process puts back the slots it used.
        fallback: ``"fail"`` raises `RedisUnavailableError` while Redis is unreachable;
            ``"local"`` goes on with an in-process limiter at ``local_share`` of the budget.
        local_share: the share of each window this process may use during an outage.
        retry_redis: seconds between tries of Redis during an outage (``"local"``).
        poll: the longest sleep between looks at Redis while another process holds budget.
        prefix: key prefix.
    """

    def __init__(
        self,
        redis: Any,
        name: str,
        limits: Sequence[RateLimit],
        *,
        max_wait: float | None = None,
        interactive_reserve: float = 0.0,
        lease: float = 35.0,
        grace: float = 2.0,
        fallback: str = "fail",
        local_share: float | None = None,
        retry_redis: float = 1.0,
        poll: float = 0.1,
        prefix: str = "yativo",
        stats: FleetStats | None = None,
    ) -> None:
        if not limits:
            raise ValueError("RedisRateLimiter needs at least one RateLimit")
        for limit in limits:
            if not isinstance(limit, RateLimit):
                raise TypeError(f"limits must hold RateLimit values, got {limit!r}")
        _check_seconds(lease=lease, grace=grace, poll=poll, retry_redis=retry_redis)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string (the budget's name), got {name!r}")
        if max_wait is not None:
            if isinstance(max_wait, bool) or not isinstance(max_wait, (int, float)):
                raise TypeError(f"max_wait must be seconds or None, not {type(max_wait).__name__}")
            if not (max_wait >= 0 and math.isfinite(max_wait)):
                raise ValueError(f"max_wait must be >= 0 and finite (or None), got {max_wait!r}")
        check_fallback(fallback, local_share)
        self._redis, self._owns = connect_redis(redis)
        self._limits = list(limits)
        self._max_wait = max_wait
        self._reserve = check_reserve(interactive_reserve)
        self._lease = float(lease)
        self._grace = float(grace)
        self._poll = poll
        self._fallback = fallback
        self._local_share = local_share
        self._retry_redis = retry_redis
        # Rule 6: every key of one budget shares the hash tag, so one cluster slot.
        self._prefix = f"{prefix}:rl:{{{name}}}"
        self._key_prefix = prefix
        self._acquire_script = self._redis.register_script(_ACQUIRE)
        self._release_script = self._redis.register_script(_RELEASE)
        self._pause_script = self._redis.register_script(_PAUSE)
        self._keep_script = self._redis.register_script(_KEEP)
        self._reseed_script = self._redis.register_script(_RESEED)
        self._put_back_script = self._redis.register_script(_PUT_BACK)
        # Rule 3 with lanes: one FIFO turn per lane; both heads poll, and the script holds
        # batch back while an interactive caller waits anywhere in the fleet.
        self._turns = {"interactive": asyncio.Lock(), "batch": asyncio.Lock()}
        self._released = asyncio.Event()
        self._pending: set[asyncio.Task[Any]] = set()
        self._n_waiting = 0
        self._last_used: list[int] = [0] * len(self._limits)
        #: loop time the fleet's budget frees, as Redis last answered a refused ask
        self._free_at: float | None = None
        # Per window: the window whose sorted set it reads (itself, or for a window adopted
        # from a server's answer the longest configured one) and the shift (see _ACQUIRE).
        self._sources: list[int] = list(range(len(self._limits)))
        self._configured = len(self._limits)  # windows 0.._configured-1 are every process's
        self._shifts: list[float] = [0.0] * len(self._limits)
        # Rule 9: what this process used, to put back if Redis loses it: slots in flight,
        # and per window the (frees at, id) of stamped slots, in Redis time.
        self._epoch = ""
        self._held: set[str] = set()
        self._history: list[deque[tuple[float, str]]] = [deque() for _ in self._limits]
        # Redis time minus loop time, from the last answer (to date fallback slots).
        self._offset: float | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._reseeding: asyncio.Lock = asyncio.Lock()
        # Rule 10: outage state.
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._local: SlidingWindowLimiter | None = None
        #: (loop time, per window the slots the fleet had) at the last grant from Redis
        self._fleet_used: tuple[float, list[int]] | None = None
        #: slots taken in the fallback that Redis has not heard of; those still in flight
        self._local_ids: set[str] = set()
        self._flying_local: set[str] = set()
        self.stats = stats if stats is not None else FleetStats()
        self.time_waited = 0.0

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        """The windows in force (configured, or stricter ones the server announced)."""
        return tuple(self._limits)

    @property
    def waiting(self) -> int:
        """Callers of this process queued for a slot now."""
        return self._n_waiting

    @property
    def max_wait(self) -> float | None:
        """The configured longest wait for budget (``None``: as long as it takes)."""
        return self._max_wait

    @property
    def redis_available(self) -> bool:
        """False while Redis is unreachable (the last try failed)."""
        return self._down_since is None

    def _keys(self) -> list[str]:
        """pause, epoch, grace, interactive waiters, then the sorted set each window reads."""
        p = self._prefix
        return [f"{p}:pause", f"{p}:epoch", f"{p}:grace", f"{p}:iwait", *self._window_keys()]

    def _window_keys(self) -> list[str]:
        limits, p = self._limits, self._prefix
        return [f"{p}:w{int(limits[source].period * 1000)}" for source in self._sources]

    def _own(self) -> list[int]:
        """The windows with a sorted set of their own (stamped at release, kept, re-seeded)."""
        return [i for i, source in enumerate(self._sources) if source == i]

    async def acquire(
        self,
        *,
        priority: bool = False,
        lane: Lane = "interactive",
        max_wait: MaxWait = DEFAULT_MAX_WAIT,
    ) -> Slot:
        """Take a slot in every window, fleet-wide. Local callers are served in order
        within their lane; a ``priority`` caller (the token exchange) does not queue."""
        code = "p" if priority else ("b" if check_lane(lane) == "batch" else "i")
        loop = asyncio.get_running_loop()
        started = loop.time()
        if max_wait is DEFAULT_MAX_WAIT:
            max_wait = self._max_wait
        deadline = None if max_wait is None else started + max_wait
        self._n_waiting += 1
        try:
            if self._down_since is not None and loop.time() < self._retry_at:
                slot = await self._acquire_local(lane, priority, max_wait)
            elif priority:
                slot = await self._poll_until_granted(code, deadline, max_wait)
            else:
                if deadline is not None:
                    # A call that may wait only so long asks Redis itself, not behind this
                    # process's queue: a turn held by another call's round trip (or by one
                    # waiting as long as it takes) is no answer about the budget.
                    slot = await self._poll_until_granted(code, deadline, max_wait)
                else:
                    turn = self._turns[lane]
                    await turn.acquire()
                    try:
                        slot = await self._poll_until_granted(code, deadline, max_wait)
                    finally:
                        turn.release()
        finally:
            self._n_waiting -= 1
        self.time_waited += loop.time() - started
        return slot

    async def _poll_until_granted(
        self, code: str, deadline: float | None, max_wait: float | None
    ) -> Slot:
        loop = asyncio.get_running_loop()
        slot_id = secrets.token_hex(8)
        while True:
            if self._down_since is not None and loop.time() < self._retry_at:
                # Found unreachable while this call queued (another call waited out the
                # timeout): not asked again until the retry time, as a new call would not be.
                left = None if deadline is None else max(0.0, deadline - loop.time())
                lane_now: Lane = "batch" if code == "b" else "interactive"
                return await self._acquire_local(lane_now, code == "p", left)
            args: list[Any] = [slot_id, self._lease, code, self._reserve, self._epoch,
                               secrets.token_hex(8), self._grace, self._poll]
            for rl, shift in zip(self._limits, self._shifts, strict=True):
                args += [rl.limit, rl.period, shift]
            try:
                status, value, in_flight, epoch, *counts = await self._run(
                    self._acquire_script, self._keys(), args
                )
            except asyncio.CancelledError:
                # Redis may have granted the slot before we left: give it back (a no-op
                # if it did not), instead of holding it for the whole lease.
                self._release_later(slot_id, False)
                raise
            except Exception as exc:
                if not _unreachable(exc):
                    raise _refused(exc) from exc
                lane: Lane = "batch" if code == "b" else "interactive"
                left = None if deadline is None else max(0.0, deadline - loop.time())
                return await self._went_down(exc, lane, code == "p", left)
            self._came_back()
            status = int(status)
            value = _text(value)
            if status == -1:
                try:
                    await self._reseed()
                except Exception as exc:
                    if not _unreachable(exc):
                        raise _refused(exc) from exc
                    lane_: Lane = "batch" if code == "b" else "interactive"
                    left = None if deadline is None else max(0.0, deadline - loop.time())
                    return await self._went_down(exc, lane_, code == "p", left)
                continue
            self._epoch = _text(epoch)
            if status == 1:
                self._offset = float(value) - loop.time()
                if counts:  # what the whole fleet had used, as of now (for an outage)
                    self._fleet_used = (loop.time(), [int(c) + 1 for c in counts[0]])
                self._held.add(slot_id)
                self._free_at = None
                self._start_keeper()
                return _RedisSlot(self, slot_id)
            wait = float(value)
            self._free_at = loop.time() + wait
            if deadline is not None and loop.time() + wait > deadline:
                if code == "i":
                    self._release_later(slot_id, False)  # take back its waiting mark
                raise self._budget_error(wait, max_wait)
            # Wait for the slot's known release time, or for a release: a local one wakes
            # us at once, another process's is seen at the next poll.
            nap = min(wait, self._poll) if int(in_flight) else wait
            self._released.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._released.wait(), nap)

    @staticmethod
    async def _run(script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a script; once more on a connection error, since a pooled connection goes
        stale when Redis restarts (the pool has dropped it by then)."""
        from redis.exceptions import ConnectionError as RedisConnectionError

        try:
            return await script(keys=keys, args=args)
        except RedisConnectionError as exc:
            if not _unreachable(exc):  # a wrong password: asking again gets the same
                raise
        return await script(keys=keys, args=args)

    # -- outage (rule 10) ---------------------------------------------------------------

    async def _went_down(
        self, exc: BaseException, lane: Lane, priority: bool, max_wait: float | None
    ) -> Slot:
        loop = asyncio.get_running_loop()
        first = self._down_since is None
        if first:
            self._down_since = loop.time()
            self.stats.redis_outages += 1
        self._retry_at = loop.time() + self._retry_redis
        if self._fallback != "local":
            if first:
                _log.warning("Redis is unreachable (%s): calls fail with RedisUnavailableError "
                             "until it returns", exc.__class__.__name__)
            raise RedisUnavailableError(
                f"Redis is unreachable ({exc.__class__.__name__}); the shared rate-limit "
                "budget cannot be accounted for, so nothing was sent. Pass "
                "redis_fallback='local' (with local_share=) to go on without Redis."
            ) from exc
        if first:
            _log.warning("Redis is unreachable (%s): going on with an in-process limiter at "
                         "%s of the budget until it returns", exc.__class__.__name__,
                         f"{self._local_share:.0%}")
        return await self._acquire_local(lane, priority, max_wait)

    def _came_back(self) -> None:
        if self._down_since is not None:
            self._down_since = None
            _log.warning("Redis is reachable again: the shared budget is back in use")
            # The slots this process took locally meanwhile count in the fleet's windows
            # still open (Redis kept its windows, so no re-seed would tell it).
            self._spawn(self._put_back(set(self._local_ids)))

    async def _put_back(self, slot_ids: set[str]) -> None:
        """Tell Redis of slots taken in the in-process fallback (those of ``slot_ids``
        that this process still remembers, stamped or in flight)."""
        if not slot_ids:
            return
        self._local_ids -= slot_ids
        keys, own = self._keys(), self._own()
        args: list[Any] = [self._lease]
        for i in own:
            stamped = [(frees, sid) for frees, sid in self._history[i] if sid in slot_ids]
            flying = [sid for sid in slot_ids if sid in self._flying_local]
            args += [self._limits[i].period, len(stamped) + len(flying)]
            for frees, sid in stamped:
                args += [frees, sid]
            for sid in flying:
                args += [0, sid]
        with contextlib.suppress(Exception):  # best effort: Redis may be gone again
            await self._run(self._put_back_script, [*(keys[4 + i] for i in own)], args)

    async def _acquire_local(self, lane: Lane, priority: bool, max_wait: MaxWait) -> Slot:
        if self._fallback != "local":
            raise RedisUnavailableError(
                "Redis is unreachable; the shared rate-limit budget cannot be accounted "
                "for, so nothing was sent (it is tried again shortly). Pass "
                "redis_fallback='local' (with local_share=) to go on without Redis."
            )
        if self._local is None:
            share = self._local_share or 0.0
            self._local = SlidingWindowLimiter(
                [RateLimit(max(1, math.floor(rl.limit * share)), rl.period)
                 for rl in self._limits],
                max_wait=self._max_wait, interactive_reserve=self._reserve,
            )
            # What this process itself used in the windows still open counts there too; and
            # at least its share of what the whole fleet had used at the last grant (so N
            # processes at 1/N each cannot add more than the window had left), counted as
            # freeing a period after that grant.
            if self._offset is not None:
                now = asyncio.get_running_loop().time()
                seeds = [
                    [stamp for frees, _ in self._history[source]
                     if (stamp := frees - shift - self._offset) > now]
                    + [now + rl.period] * len(self._held)
                    for rl, source, shift in zip(self._limits, self._sources, self._shifts,
                                                 strict=True)
                ]
                if self._fleet_used is not None:
                    at, counts = self._fleet_used
                    for window, rl, count in zip(seeds, self._limits, counts, strict=False):
                        frees = at + rl.period
                        fleet_share = math.ceil(count * share - 1e-9)
                        if frees > now and fleet_share > len(window):
                            window.extend([frees] * (fleet_share - len(window)))
                self._local.seed(seeds)
        loop = asyncio.get_running_loop()
        started = loop.time()
        slot = await self._local.acquire(priority=priority, lane=lane, max_wait=max_wait)
        if self._down_since is None or loop.time() >= self._retry_at:
            # Redis came back (or is due to be tried again) while this call queued locally:
            # a slot Redis never hears of would let the fleet past the limit once the others
            # use Redis again. Take it there (or locally again, if Redis is still away),
            # with what is left of max_wait.
            slot.release(sent=False)
            if max_wait is DEFAULT_MAX_WAIT:
                max_wait = self._max_wait
            deadline = None if max_wait is None else started + max_wait
            code = "p" if priority else ("b" if lane == "batch" else "i")
            return await self._poll_until_granted(code, deadline, max_wait)
        self.stats.fallback_slots += 1
        self._local_ids.add(slot_id := secrets.token_hex(8))
        return _FallbackSlot(self, slot, slot_id)

    # -- release, keeping, re-seeding (rules 2, 7 and 9) --------------------------------

    def _release_later(self, slot_id: str, sent: bool) -> None:
        self._spawn(self._release(slot_id, sent))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _release(self, slot_id: str, sent: bool) -> None:
        keys, own = self._keys(), self._own()
        try:
            now = float(_text(await self._run(
                self._release_script, [keys[3], *(keys[4 + i] for i in own)],
                ["1" if sent else "0", slot_id, *(self._limits[i].period for i in own)],
            )))
            if sent and slot_id in self._held:
                self._remember(slot_id, now)
        except Exception as exc:  # the lease frees the slot in the end
            if self._down_since is None:
                _log.warning("could not release a rate-limit slot in Redis (%s); its lease "
                             "frees it later", exc.__class__.__name__)
        finally:
            self._held.discard(slot_id)
            self._released.set()

    def _remember(self, slot_id: str, stamped: float) -> None:
        """A stamped slot of ours, kept while its windows are open (to re-seed)."""
        for i in self._own():
            history = self._history[i]
            history.append((stamped + self._limits[i].period, slot_id))
            while history and history[0][0] <= stamped:
                history.popleft()

    def _start_keeper(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep())

    async def _keep(self) -> None:
        """While this process has slots in flight or in open windows: renew the leases of
        the ones in flight, and notice when Redis lost the windows (then re-seed)."""
        every = min(self._lease / 3, self._grace / 2)
        loop = asyncio.get_running_loop()
        while self._held or any(self._history):
            await asyncio.sleep(every)
            keys, own = self._keys(), self._own()
            try:
                epoch, now = await self._run(
                    self._keep_script, [keys[1], *(keys[4 + i] for i in own)],
                    [self._epoch, self._lease, *(self._limits[i].period for i in own),
                     *self._held],
                )
            except Exception as exc:
                if _unreachable(exc):
                    continue
                _log.warning("rate-limit keeper: %s", exc.__class__.__name__)
                continue
            now_f = float(_text(now))
            self._offset = now_f - loop.time()
            for history in self._history:
                while history and history[0][0] <= now_f:
                    history.popleft()
            if not self._epoch:
                # Renamed to another budget meanwhile (`rename`): nothing of ours is in
                # it to put back; its epoch is simply the one we know from now on.
                self._epoch = _text(epoch)
            elif _text(epoch) != self._epoch:
                with contextlib.suppress(Exception):
                    await self._reseed()

    async def _reseed(self) -> None:
        """Redis lost the windows: put back the slots this process used in the windows
        still open (it knows them exactly) and hold grants back for the grace."""
        async with self._reseeding:
            keys, own = self._keys(), self._own()
            args: list[Any] = [secrets.token_hex(8), self._grace, self._lease, self._epoch]
            for i in own:
                history, held = self._history[i], list(self._held)
                args += [self._limits[i].period, len(history) + len(held)]
                for frees, slot_id in history:
                    args += [frees, slot_id]
                for slot_id in held:
                    args += [0, slot_id]
            epoch = _text(await self._run(self._reseed_script,
                                          [keys[1], keys[2], *(keys[4 + i] for i in own)],
                                          args))
            if epoch != self._epoch:
                self.stats.reseeds += 1
                _log.warning("Redis lost the rate-limit windows (restart or flush): this "
                             "process put back the slots it used; grants resume after %.1f s",
                             self._grace)
            self._epoch = epoch

    def _budget_error(self, retry_after: float | None, max_wait: float | None) -> RateLimitError:
        return RateLimitError(
            f"client-side rate limit (shared through Redis): no budget within "
            f"max_wait={max_wait} s",
            retry_after=retry_after,
            from_client=True,
        )

    def next_free_in(self) -> float | None:
        """Seconds until the fleet's budget frees, as Redis last answered a refused ask of
        this process (None: no refusal is pending). An estimate for a ``retry_after``."""
        if self._free_at is None:
            return None
        left = self._free_at - asyncio.get_running_loop().time()
        return left if left > 0 else None

    def status(self) -> list[WindowStatus]:
        """The windows as configured; live counts need Redis: see `status_async()`."""
        return [
            WindowStatus(limit=rl.limit, period=rl.period, used=used, in_flight=0,
                         remaining=max(0, rl.limit - used), next_free_in=None)
            for rl, used in zip(self._limits, self._last_used, strict=True)
        ]

    async def status_async(self) -> list[WindowStatus]:
        """Live fleet-wide counts per window (Redis's clock)."""
        windows = self._window_keys()
        now = float(_text(await self._redis.eval(_NOW, 1, windows[0])))
        out = []
        for i, (rl, key, shift) in enumerate(
            zip(self._limits, windows, self._shifts, strict=True)
        ):
            used = int(await self._redis.zcount(key, f"({now + shift}", "+inf"))
            self._last_used[i] = used
            in_flight = int(await self._redis.zcount(key, f"({now + shift + rl.period}",
                                                     "+inf"))
            out.append(WindowStatus(limit=rl.limit, period=rl.period, used=used,
                                    in_flight=in_flight, remaining=max(0, rl.limit - used),
                                    next_free_in=None))
        return out

    def adopt(self, limits: Sequence[RateLimit]) -> None:
        """Keep to ``limits`` too where they are stricter (for the whole fleet); never loosen."""
        for rl in limits:
            action, i = place_window(self._limits, rl)  # SlidingWindowLimiter.adopt's rule
            if i is not None and rl.limit < self._limits[i].limit:  # tighten, or fold in
                self._limits[i] = RateLimit(rl.limit, self._limits[i].period)
            if action == "add":
                # Read from the longest window of its own, which holds every request the
                # fleet sent in its period (an adopted period is capped at the longest
                # configured one): the new window starts with the requests already sent
                # in it, as SlidingWindowLimiter.adopt's does, rather than empty.
                # (a configured one: every process writes it, whatever it has adopted)
                own = [k for k in self._own() if k < self._configured]
                base = max(own, key=lambda k: self._limits[k].period)
                longest = self._limits[base].period
                self._sources.append(base if rl.period <= longest else len(self._limits))
                self._shifts.append(max(0.0, longest - rl.period))
                self._limits.append(rl)
                self._last_used.append(0)
                self._history.append(deque())
        if self._local is not None:
            self._local.adopt(limits)

    def rename(self, name: str) -> None:
        """Count against the budget named ``name`` from now on (the client's key pair
        changed to another API key: the server keeps a budget per key, and so does the
        fleet). Slots still out under the old name free by their lease."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        prefix = f"{self._key_prefix}:rl:{{{name}}}"
        if prefix == self._prefix:
            return
        self._prefix = prefix
        # Nothing of the old budget is carried over: its slots (in flight or stamped) are
        # not the new key's, and no re-seed must put them there.
        self._epoch = ""
        self._held.clear()
        self._local_ids.clear()
        self._fleet_used = None
        for history in self._history:
            history.clear()

    def adopt_unknown_period(self, limit: int) -> None:
        """A quota whose window the server did not name: applied to the shortest window if
        stricter."""
        i = min(range(len(self._limits)), key=lambda k: self._limits[k].period)
        if 0 < limit < self._limits[i].limit:
            self._limits[i] = RateLimit(limit, self._limits[i].period)

    def pause_until(self, when: float) -> None:
        """Pause the whole fleet until ``when`` (loop time), e.g. after a 429."""
        delay = when - asyncio.get_running_loop().time()
        if delay <= 0:
            return
        if self._local is not None:
            self._local.pause_until(when)
        self._spawn(self._pause(delay))

    async def _pause(self, delay: float) -> None:
        try:
            await self._pause_script(keys=[self._keys()[0]], args=[delay])
        except Exception as exc:
            if not _unreachable(exc):
                raise

    def server_budget(self, remaining: int, until: float) -> None:
        # The windows are already shared by every process of the fleet through Redis; a
        # server's "remaining" below them means a client outside the fleet: a 429 (which
        # pauses everyone) handles it.
        """The server says ``remaining`` requests are left until ``until``: hold the fleet to it."""
        return None

    async def aclose(self) -> None:
        """Flush pending releases and a pause to Redis, stop the lease keeper, close a connection
        this limiter opened."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._pending:
            # Bounded: against a Redis that does not answer, a release would hold the close
            # for its timeout; the lease frees an unreleased slot in the end anyway.
            _done, late = await asyncio.wait(set(self._pending), timeout=CLOSE_WAIT)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=CLOSE_WAIT)
        if self._owns:
            await self._redis.aclose()


class _RedisSlot:
    """A slot of a `RedisRateLimiter`: released (stamped or removed) by a background task,
    so ``release()`` stays synchronous like every `Slot`."""

    __slots__ = ("_limiter", "_slot_id")

    def __init__(self, limiter: RedisRateLimiter, slot_id: str) -> None:
        self._limiter: RedisRateLimiter | None = limiter
        self._slot_id = slot_id

    def release(self, *, sent: bool = True) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release_later(self._slot_id, sent)


class _FallbackSlot:
    """A slot of the in-process fallback limiter; remembered (dated in Redis time) so that
    it is put back in Redis when Redis returns without its windows."""

    __slots__ = ("_limiter", "_slot", "_slot_id")

    def __init__(self, limiter: RedisRateLimiter, slot: Slot, slot_id: str) -> None:
        self._limiter: RedisRateLimiter | None = limiter
        self._slot = slot
        self._slot_id = slot_id
        limiter._flying_local.add(slot_id)

    def release(self, *, sent: bool = True) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is None:
            return
        self._slot.release(sent=sent)
        limiter._flying_local.discard(self._slot_id)
        if not sent:
            limiter._local_ids.discard(self._slot_id)
        elif limiter._offset is not None:
            limiter._remember(self._slot_id,
                              asyncio.get_running_loop().time() + limiter._offset)
            if limiter._down_since is None:  # Redis is back: it hears of this one now
                limiter._spawn(limiter._put_back({self._slot_id}))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _best_effort(step: Awaitable[Any], what: str) -> None:
    """Await ``step``; a failure is logged (``what`` could not be done), never raised."""
    try:
        await step
    except Exception as exc:
        _log.warning("could not %s in Redis (%s)", what, exc.__class__.__name__)


def _refused(exc: BaseException, what: str = "the rate-limit script") -> RedisUnavailableError:
    """Redis answered, with an error (a key of the wrong type, a garbage value, an ACL
    that forbids the scripts, a wrong password): a `YativoError` naming it, nothing sent.
    (redis-py's messages never quote the password.)"""
    from redis import exceptions as rx

    if isinstance(exc, (rx.AuthenticationError, rx.AuthorizationError)):
        hint = "Check the user name and password in the Redis URL."
    else:
        hint = ("Check the Redis user's permissions, or delete the budget's keys if "
                "something else wrote to them.")
    return RedisUnavailableError(
        f"Redis refused {what} ({exc.__class__.__name__}: {str(exc)[:200]}); nothing was "
        f"sent. {hint}"
    )


def _unreachable(exc: BaseException) -> bool:
    """Redis cannot be reached (down, restarting, loading, a cluster without a primary for
    the slot, a replica mid-failover answering READONLY): as opposed to Redis refusing the
    script or this client (`_refused`). A wrong password or a user not allowed to connect is
    a setting to fix, not an outage to ride out: redis-py raises it as a ConnectionError,
    but it is refused, never met with the in-process fallback."""
    from redis import exceptions as rx

    if isinstance(exc, (rx.AuthenticationError, rx.AuthorizationError)):
        return False
    return isinstance(exc, (rx.ConnectionError, rx.TimeoutError, rx.ClusterError,
                            rx.RedisClusterException, rx.BusyLoadingError, rx.ReadOnlyError,
                            rx.MasterDownError, rx.TryAgainError, OSError))


def _check_seconds(**values: object) -> None:
    """Each a finite number of seconds > 0, or a ValueError naming it."""
    for label, value in values.items():
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not (value > 0 and math.isfinite(value))):
            raise ValueError(f"{label} must be a finite number of seconds > 0, got {value!r}")


def check_fallback(fallback: object, local_share: object) -> None:
    """``redis_fallback`` and ``local_share`` together, or a ValueError naming the problem."""
    if fallback not in ("fail", "local"):
        raise ValueError(f"redis_fallback must be 'fail' or 'local', got {fallback!r}")
    if fallback == "local":
        if local_share is None:
            raise ValueError("redis_fallback='local' needs local_share= (the share of each "
                             "window this process may use while Redis is unreachable, e.g. "
                             "1 / number of processes)")
        if (isinstance(local_share, bool) or not isinstance(local_share, (int, float))
                or not 0 < local_share <= 1):
            raise ValueError(f"local_share must be a share in (0, 1], got {local_share!r}")
    elif local_share is not None:
        raise ValueError("local_share is only used with redis_fallback='local'")


Exchange = Callable[[str, Secret], Awaitable[tuple[AccessToken, float]]]


class RedisTokenCache:
    """One bearer token for every process using the same key and Redis.

    ``fetch()`` returns the cached token when it is still before its refresh point, or
    makes the exchange itself under a fleet-wide lock (one process exchanges; the others
    wait for its token). Tokens are stored encrypted under the API secret.

    Args:
        redis: a ``redis.asyncio.Redis`` (or a URL).
        lock_ttl: seconds the exchange lock lives (longer than an exchange can take).
        wait_timeout: how long a process waits for another's exchange before failing.
        poll: seconds between looks at the cache while another process exchanges.
        refresh_ratio: a cached token is taken while less than this share of its lifetime
            has passed (the provider refreshes past it).
        fallback: while Redis is unreachable: ``"fail"`` raises `RedisUnavailableError`;
            ``"local"`` exchanges without the cache (one exchange per process).
    """

    def __init__(
        self,
        redis: Any,
        *,
        lock_ttl: float = 30.0,
        wait_timeout: float = 35.0,
        poll: float = 0.05,
        refresh_ratio: float = 0.8,
        prefix: str = "yativo",
        fallback: str = "fail",
    ) -> None:
        if fallback not in ("fail", "local"):
            raise ValueError(f"fallback must be 'fail' or 'local', got {fallback!r}")
        _check_seconds(lock_ttl=lock_ttl, wait_timeout=wait_timeout, poll=poll)
        if (isinstance(refresh_ratio, bool) or not isinstance(refresh_ratio, (int, float))
                or not 0 < refresh_ratio <= 1):
            raise ValueError(f"refresh_ratio must be a share in (0, 1], got {refresh_ratio!r}")
        self._fallback = fallback
        self._redis, self._owns = connect_redis(redis)
        self._lock_ttl = lock_ttl
        self._wait_timeout = wait_timeout
        self._poll = poll
        self._ratio = refresh_ratio
        self._prefix = prefix
        self._unlock = self._redis.register_script(_UNLOCK)
        self._renew = self._redis.register_script(_RENEW)

    def _keys(self, api_key: str) -> tuple[str, str]:
        ident = redis_key_id(api_key)
        return f"{self._prefix}:tok:{{{ident}}}", f"{self._prefix}:tok:{{{ident}}}:lock"

    async def fetch(
        self, api_key: str, api_secret: Secret, exchange: Exchange, *, reject: Secret | None
    ) -> tuple[AccessToken, float]:
        """A token for ``api_key`` and the loop time its lifetime counts from.

        ``reject``: a token the server refused (401); the cache does not hand it out again.

        Raises:
            RedisUnavailableError: Redis cannot be reached (``fallback="fail"``).
        """
        try:
            return await self._fetch(api_key, api_secret, exchange, reject)
        except Exception as exc:
            if not _unreachable(exc):
                from redis.exceptions import RedisError

                if isinstance(exc, RedisError):
                    raise _refused(exc, "the fleet's token cache") from exc
                raise
            if self._fallback != "local":
                raise RedisUnavailableError(
                    f"Redis is unreachable ({exc.__class__.__name__}); the fleet's shared "
                    "token cannot be read, so nothing was sent"
                ) from exc
        _log.debug("Redis is unreachable: exchanging a token without the fleet's cache")
        return await exchange(api_key, api_secret)

    async def _fetch(
        self, api_key: str, api_secret: Secret, exchange: Exchange, reject: Secret | None
    ) -> tuple[AccessToken, float]:
        loop = asyncio.get_running_loop()
        key, lock_key = self._keys(api_key)
        deadline = loop.time() + self._wait_timeout
        while True:
            cached = await self._read(key, api_key, api_secret, reject)
            if cached is not None:
                return cached
            holder = secrets.token_hex(16)
            if await self._redis.set(lock_key, holder, nx=True, px=int(self._lock_ttl * 1000)):
                # Held for as long as the exchange takes (its wait for budget included):
                # renewed, so the fleet's other processes keep waiting for this token
                # instead of exchanging a second one when a fixed expiry runs out.
                renewing = loop.create_task(self._keep_lock(lock_key, holder))
                try:
                    # Another process may have written just before we took the lock.
                    cached = await self._read(key, api_key, api_secret, reject)
                    if cached is not None:
                        return cached
                    access, sent_at = await exchange(api_key, api_secret)
                    # The token is ours whatever Redis does now: a failure to share it
                    # (Redis gone mid-exchange) costs the fleet an exchange, not this call.
                    await _best_effort(self._write(key, api_key, api_secret, access, sent_at),
                                       "store the new token for the fleet")
                    return access, sent_at
                finally:
                    renewing.cancel()
                    await _best_effort(self._unlock(keys=[lock_key], args=[holder]),
                                       "release the token lock (it expires by itself)")
            left = await self._redis.pttl(lock_key)
            if left == -1:
                # A lock with no expiry is none of ours (ours always expire): give it one,
                # or every process would wait on it for ever.
                await self._redis.pexpire(lock_key, int(self._lock_ttl * 1000))
            elif left > 0:
                # Held: its holder renews it while its exchange runs (a wait for budget
                # included), and a holder that died leaves it to expire. Wait on until it
                # is gone, then take it (the loop above) if no token came.
                deadline = max(deadline, loop.time() + left / 1000 + self._poll)
            if loop.time() >= deadline:
                raise TokenUnavailableError(
                    "timed out waiting for another process's token exchange (Redis lock)"
                )
            await asyncio.sleep(self._poll)

    async def _keep_lock(self, lock_key: str, holder: str) -> None:
        """Renew the exchange lock every third of its life while the exchange runs."""
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(self._lock_ttl / 3)
                await self._renew(keys=[lock_key], args=[holder, int(self._lock_ttl * 1000)])

    async def _redis_now(self, key: str) -> float:
        # One key, so that a cluster knows where to run it (its slot's node).
        return float(_text(await self._redis.eval(_NOW, 1, key)))

    async def _read(
        self, key: str, api_key: str, api_secret: Secret, reject: Secret | None
    ) -> tuple[AccessToken, float] | None:
        raw = await self._redis.get(key)
        if raw is None:
            return None
        record = _decrypt(raw, api_key, api_secret)
        if record is None:
            return None  # written under another secret (rotated), or tampered with
        value = Secret(record["t"])
        if reject is not None and value == reject:
            return None
        ttl = float(record["ttl"])
        age = await self._redis_now(key) - float(record["iat"])
        if age < 0 or age >= ttl * self._ratio:
            return None  # due for a refresh: someone has to exchange
        loop_now = asyncio.get_running_loop().time()
        token = AccessToken(access_token=value, expires_in=int(ttl),
                            token_type=str(record.get("type", "Bearer")))
        return token, loop_now - age

    async def _write(
        self, key: str, api_key: str, api_secret: Secret, access: AccessToken, sent_at: float
    ) -> None:
        age = asyncio.get_running_loop().time() - sent_at
        issued = await self._redis_now(key) - age
        record = {"t": access.access_token.get_secret_value(), "ttl": access.expires_in,
                  "type": access.token_type, "iat": issued}
        ttl = max(1, int(access.expires_in - age))
        await self._redis.set(key, _encrypt(record, api_key, api_secret), ex=ttl)

    async def aclose(self) -> None:
        """Close a Redis connection this cache opened. Idempotent."""
        if self._owns:
            await self._redis.aclose()


def _aead(api_key: str, api_secret: Secret) -> Any:
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the Redis token cache needs: pip install 'yativo-async[redis]'") from exc
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=api_key.encode(),
        info=b"yativo_async token cache v1",
    ).derive(api_secret.get_secret_value().encode())
    return AESGCM(key)


def _encrypt(record: dict[str, Any], api_key: str, api_secret: Secret) -> bytes:
    nonce = os.urandom(12)
    sealed = _aead(api_key, api_secret).encrypt(nonce, json.dumps(record).encode(),
                                                api_key.encode())
    return base64.b64encode(nonce + sealed)


def _decrypt(raw: bytes | str, api_key: str, api_secret: Secret) -> dict[str, Any] | None:
    try:
        blob = base64.b64decode(raw)
        plain = _aead(api_key, api_secret).decrypt(blob[:12], blob[12:], api_key.encode())
        record = json.loads(plain)
    except Exception:  # wrong secret, tampering, or garbage: a miss, never a crash
        return None
    return record if isinstance(record, dict) else None
