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
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._config import RateLimit
from ._errors import RateLimitError, TokenUnavailableError
from ._models import AccessToken
from ._ratelimit import DEFAULT_MAX_WAIT, Lane, MaxWait, Slot, WindowStatus
from ._secret import Secret

__all__ = ["RedisRateLimiter", "RedisTokenCache", "connect_redis", "redis_key_id"]

_log = logging.getLogger("yativo_async")

# KEYS: the pause key, then one sorted set per window.
# ARGV: slot id, lease seconds, then (limit, period) per window.
# A member is a slot id; its score is when the slot frees, in Redis seconds.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then
  return {0, tostring(paused - now), 0}
end
local lease = tonumber(ARGV[2])
local wait = 0
local in_flight = 0
for i = 2, #KEYS do
  local limit = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  local used = redis.call('ZCARD', KEYS[i])
  if used >= limit then
    local entry = redis.call('ZRANGE', KEYS[i], used - limit, used - limit, 'WITHSCORES')
    local frees = tonumber(entry[2])
    if frees - now > wait then
      wait = frees - now
      if frees > now + period then in_flight = 1 else in_flight = 0 end
    end
  end
end
if wait > 0 then
  return {0, tostring(wait), in_flight}
end
for i = 2, #KEYS do
  local period = tonumber(ARGV[2 * i])
  redis.call('ZADD', KEYS[i], now + lease + period, ARGV[1])
  redis.call('EXPIRE', KEYS[i], math.ceil(lease + period) + 1)
end
return {1, tostring(now), 0}
"""

# KEYS: one sorted set per window. ARGV: '1' (sent: stamp) or '0' (unsent: remove), slot id,
# then the period of each window.
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #KEYS do
  if ARGV[1] == '1' then
    redis.call('ZADD', KEYS[i], 'XX', now + tonumber(ARGV[2 + i]), ARGV[2])
  else
    redis.call('ZREM', KEYS[i], ARGV[2])
  end
end
return 1
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


def connect_redis(redis: Any) -> tuple[Any, bool]:
    """A URL or a ``redis.asyncio.Redis``; returns (client, whether we own it)."""
    if isinstance(redis, str):
        return _import_redis().from_url(redis), True
    if not all(hasattr(redis, name) for name in ("register_script", "get", "set")):
        raise TypeError("redis must be a URL or a redis.asyncio.Redis client")
    return redis, False


def redis_key_id(identity: str) -> str:
    """A key name part for an identity (an API key or a token) that does not reveal it."""
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class RedisRateLimiter:
    """The exact sliding-window limiter, shared by every process using the same Redis and
    ``name`` (see the module rules). Same interface as `SlidingWindowLimiter`.

    Args:
        redis: a ``redis.asyncio.Redis`` (or a URL).
        name: the budget's identity (e.g. ``redis_key_id(api_key)``).
        limits: the windows.
        max_wait: as for `SlidingWindowLimiter`.
        lease: seconds an in-flight slot may stay unreleased (a crashed holder's slots free
            after ``lease + period``).
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
        lease: float = 600.0,
        poll: float = 0.1,
        prefix: str = "yativo",
    ) -> None:
        if not limits:
            raise ValueError("RedisRateLimiter needs at least one RateLimit")
        for limit in limits:
            if not isinstance(limit, RateLimit):
                raise TypeError(f"limits must hold RateLimit values, got {limit!r}")
        self._redis, self._owns = connect_redis(redis)
        self._limits = list(limits)
        self._max_wait = max_wait
        self._lease = lease
        self._poll = poll
        self._prefix = f"{prefix}:rl:{name}"
        self._acquire_script = self._redis.register_script(_ACQUIRE)
        self._release_script = self._redis.register_script(_RELEASE)
        self._pause_script = self._redis.register_script(_PAUSE)
        self._turn = asyncio.Lock()
        self._released = asyncio.Event()
        self._pending: set[asyncio.Task[None]] = set()
        self._n_waiting = 0
        self._last_used: list[int] = [0] * len(self._limits)
        self.time_waited = 0.0

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return tuple(self._limits)

    @property
    def waiting(self) -> int:
        return self._n_waiting

    def _keys(self) -> list[str]:
        return [f"{self._prefix}:pause"] + [
            f"{self._prefix}:w{int(rl.period * 1000)}" for rl in self._limits
        ]

    async def acquire(
        self,
        *,
        priority: bool = False,
        lane: Lane = "interactive",
        max_wait: MaxWait = DEFAULT_MAX_WAIT,
    ) -> Slot:
        """Take a slot in every window, fleet-wide. Local callers are served in order; a
        ``priority`` caller (the token exchange) does not queue behind them."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        if max_wait is DEFAULT_MAX_WAIT:
            max_wait = self._max_wait
        deadline = None if max_wait is None else started + max_wait
        self._n_waiting += 1
        try:
            if priority:
                slot = await self._poll_until_granted(deadline, max_wait)
            else:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                try:
                    await asyncio.wait_for(self._turn.acquire(), remaining)
                except asyncio.TimeoutError:
                    raise self._budget_error(None, max_wait) from None
                try:
                    slot = await self._poll_until_granted(deadline, max_wait)
                finally:
                    self._turn.release()
        finally:
            self._n_waiting -= 1
        self.time_waited += loop.time() - started
        return slot

    async def _poll_until_granted(self, deadline: float | None, max_wait: float | None) -> Slot:
        loop = asyncio.get_running_loop()
        args: list[Any] = [secrets.token_hex(8), self._lease]
        for rl in self._limits:
            args += [rl.limit, rl.period]
        while True:
            slot_id = args[0]
            try:
                granted, value, in_flight = await self._acquire_script(
                    keys=self._keys(), args=args
                )
            except asyncio.CancelledError:
                # Redis may have granted the slot before we left: give it back (a no-op
                # if it did not), instead of holding it for the whole lease.
                self._release_later(slot_id, False)
                raise
            if int(granted):
                return _RedisSlot(self, slot_id)
            wait = float(value)
            if deadline is not None and loop.time() + wait > deadline:
                raise self._budget_error(wait, max_wait)
            # Wait for the slot's known release time, or for a release: a local one wakes
            # us at once, another process's is seen at the next poll.
            nap = min(wait, self._poll) if int(in_flight) else wait
            self._released.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._released.wait(), nap)

    def _release_later(self, slot_id: str, sent: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._release(slot_id, sent))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _release(self, slot_id: str, sent: bool) -> None:
        try:
            await self._release_script(
                keys=self._keys()[1:],
                args=["1" if sent else "0", slot_id, *(rl.period for rl in self._limits)],
            )
        except Exception as exc:  # the lease frees the slot in the end
            _log.warning("could not release a rate-limit slot in Redis (%s); its lease "
                         "frees it later", exc.__class__.__name__)
        finally:
            self._released.set()

    def _budget_error(self, retry_after: float | None, max_wait: float | None) -> RateLimitError:
        return RateLimitError(
            f"client-side rate limit (shared through Redis): no budget within "
            f"max_wait={max_wait} s",
            retry_after=retry_after,
            from_client=True,
        )

    def status(self) -> list[WindowStatus]:
        """The windows as configured; live counts need Redis: see `status_async()`."""
        return [
            WindowStatus(limit=rl.limit, period=rl.period, used=used, in_flight=0,
                         remaining=max(0, rl.limit - used), next_free_in=None)
            for rl, used in zip(self._limits, self._last_used, strict=True)
        ]

    async def status_async(self) -> list[WindowStatus]:
        """Live fleet-wide counts per window (Redis's clock)."""
        now = float(await self._redis.eval(_NOW, 0))
        out = []
        for i, (rl, key) in enumerate(zip(self._limits, self._keys()[1:], strict=True)):
            used = int(await self._redis.zcount(key, f"({now}", "+inf"))
            self._last_used[i] = used
            in_flight = int(await self._redis.zcount(key, f"({now + rl.period}", "+inf"))
            out.append(WindowStatus(limit=rl.limit, period=rl.period, used=used,
                                    in_flight=in_flight, remaining=max(0, rl.limit - used),
                                    next_free_in=None))
        return out

    def adopt(self, limits: Sequence[RateLimit]) -> None:
        for rl in limits:
            for i, mine in enumerate(self._limits):
                if abs(mine.period - rl.period) < 1e-9:
                    if rl.limit < mine.limit:
                        self._limits[i] = rl
                    break
            else:
                self._limits.append(rl)
                self._last_used.append(0)

    def adopt_unknown_period(self, limit: int) -> None:
        i = min(range(len(self._limits)), key=lambda k: self._limits[k].period)
        if 0 < limit < self._limits[i].limit:
            self._limits[i] = RateLimit(limit, self._limits[i].period)

    def pause_until(self, when: float) -> None:
        """Pause the whole fleet until ``when`` (loop time), e.g. after a 429."""
        delay = when - asyncio.get_running_loop().time()
        if delay <= 0:
            return
        task = asyncio.get_running_loop().create_task(
            self._pause_script(keys=[self._keys()[0]], args=[delay])
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def server_budget(self, remaining: int, until: float) -> None:
        # The windows are already shared by every process of the fleet through Redis; a
        # server's "remaining" below them means a client outside the fleet: a 429 (which
        # pauses everyone) handles it.
        return None

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
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
    ) -> None:
        self._redis, self._owns = connect_redis(redis)
        self._lock_ttl = lock_ttl
        self._wait_timeout = wait_timeout
        self._poll = poll
        self._ratio = refresh_ratio
        self._prefix = prefix
        self._unlock = self._redis.register_script(_UNLOCK)

    def _keys(self, api_key: str) -> tuple[str, str]:
        ident = redis_key_id(api_key)
        return f"{self._prefix}:tok:{ident}", f"{self._prefix}:tok:{ident}:lock"

    async def fetch(
        self, api_key: str, api_secret: Secret, exchange: Exchange, *, reject: Secret | None
    ) -> tuple[AccessToken, float]:
        """A token for ``api_key`` and the loop time its lifetime counts from.

        ``reject``: a token the server refused (401); the cache does not hand it out again.
        """
        loop = asyncio.get_running_loop()
        key, lock_key = self._keys(api_key)
        deadline = loop.time() + self._wait_timeout
        while True:
            cached = await self._read(key, api_key, api_secret, reject)
            if cached is not None:
                return cached
            holder = secrets.token_hex(16)
            if await self._redis.set(lock_key, holder, nx=True, px=int(self._lock_ttl * 1000)):
                try:
                    # Another process may have written just before we took the lock.
                    cached = await self._read(key, api_key, api_secret, reject)
                    if cached is not None:
                        return cached
                    access, sent_at = await exchange(api_key, api_secret)
                    await self._write(key, api_key, api_secret, access, sent_at)
                    return access, sent_at
                finally:
                    await self._unlock(keys=[lock_key], args=[holder])
            if loop.time() >= deadline:
                raise TokenUnavailableError(
                    "timed out waiting for another process's token exchange (Redis lock)"
                )
            await asyncio.sleep(self._poll)

    async def _redis_now(self) -> float:
        return float(await self._redis.eval(_NOW, 0))

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
        age = await self._redis_now() - float(record["iat"])
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
        issued = await self._redis_now() - age
        record = {"t": access.access_token.get_secret_value(), "ttl": access.expires_in,
                  "type": access.token_type, "iat": issued}
        ttl = max(1, int(access.expires_in - age))
        await self._redis.set(key, _encrypt(record, api_key, api_secret), ex=ttl)

    async def aclose(self) -> None:
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
