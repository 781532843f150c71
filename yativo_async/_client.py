"""`YativoClient`: one short, linear pipeline, readable top to bottom.

    retry (tenacity) wraps one attempt:
        get a token -> take a rate-limit slot -> transport.send -> stamp the slot
        -> learn the server's limits -> 401? compare-and-clear the token, replay once
        -> status to exception
    then the converter structures the body.

Each concern lives in its own module; this one only wires them together.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from ._aiohttp import AiohttpTransport
from ._auth import (
    BearerToken,
    CodeSource,
    ExchangeTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    TokenStats,
    TwoFactor,
    check_code,
)
from ._config import DEFAULT_RATE_LIMITS, RateLimit, RetryPolicy, Timeouts
from ._converter import decode, decode_key_list
from ._errors import (
    APIConnectionError,
    APIStatusError,
    OutcomeUnknownError,
    ServerError,
    error_from_response,
)
from ._models import AccessToken, ApiKey, CreatedApiKey, RotatedApiKey
from ._ratelimit import NullLimiter, SlidingWindowLimiter, WindowStatus
from ._redis import RedisRateLimiter, RedisTokenCache, connect_redis, redis_key_id
from ._retry import retry_after_failure
from ._sansio import key_path, parse_rate_limit_headers
from ._secret import Secret, SecretLike, to_secret
from ._transport import Request, Response, Transport
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "ApiKeysResource", "AuthResource", "ClientStats", "YativoClient"]

DEFAULT_BASE_URL: Final = "https://crypto-api.yativo.com/api"
TOKEN_PATH: Final = "/apikey/token"
AUTH_TOKEN_PATH: Final = "/auth/token"
_log = logging.getLogger("yativo_async")
_LIMIT_HEADERS: Final = (
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "x-rate-limit-limit",
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

    @property
    def token_exchanges(self) -> int:
        return self.tokens.exchanges

    def as_dict(self) -> dict[str, Any]:
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
        }


class _Op:
    """One logical call (all of its attempts)."""

    __slots__ = (
        "auth",
        "body",
        "body_fields",
        "code",
        "idempotent",
        "key_id",
        "key_name",
        "method",
        "name",
        "path",
        "priority",
        "renew_code",
        "sent_at",
    )

    def __init__(
        self,
        name: str,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        auth: bool = True,
        idempotent: bool = True,
        code: str | None = None,
        priority: bool = False,
        key_name: str | None = None,
        key_id: str | None = None,
        renew_code: TwoFactor | None = None,
    ) -> None:
        self.name = name
        self.method = method
        self.path = path
        self.body_fields = body
        self.body = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        self.auth = auth
        self.idempotent = idempotent
        self.code = code
        #: a TOTP source: a fresh code for every attempt after the first (a retry may come
        #: after the code's 30 s step has passed)
        self.renew_code = renew_code
        self.priority = priority
        self.key_name = key_name
        self.key_id = key_id
        self.sent_at = 0.0


class YativoClient:
    """The Yativo API client. Create one, share it, close it (``async with`` or ``aclose()``).

    Args:
        api_key, api_secret: server-to-server credentials; bearer tokens are exchanged and
            refreshed for you, one exchange at a time.
        access_token: a user's bearer token, used as is.
        token_provider: your own `TokenProvider` (a vault, a sidecar).
        base_url: the API root.
        two_factor: a base32 TOTP secret, or a callable (sync or async) returning the code.
        rate_limits: the windows to keep to; ``[]`` turns limiting off.
        max_wait: seconds a call may wait for budget; past it `RateLimitError`.
        transport: default `AiohttpTransport()`; also `HttpxTransport`, `MockTransport`.
            A transport you pass in is yours: the client never closes it.
        retry: the `RetryPolicy`.
        timeout: seconds per attempt, or `Timeouts`.
        token_path: ``"/apikey/token"`` (doc 002, default) or ``"/auth/token"`` (doc 000).
        redis: a URL or a ``redis.asyncio.Redis`` (extra ``redis``): the key's rate-limit
            budget and its bearer token are shared with every process on that Redis.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_secret: SecretLike | None = None,
        access_token: SecretLike | None = None,
        token_provider: TokenProvider | None = None,
        base_url: str = DEFAULT_BASE_URL,
        two_factor: SecretLike | CodeSource | None = None,
        rate_limits: Sequence[RateLimit] = DEFAULT_RATE_LIMITS,
        max_wait: float | None = None,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | Timeouts = 30.0,
        token_path: str = TOKEN_PATH,
        token_skew: float = 60.0,
        user_agent: str | None = None,
        seed: int | None = None,
        redis: Any = None,
    ) -> None:
        self._base_url = _check_base_url(base_url)
        if isinstance(timeout, Timeouts):
            self._timeouts = timeout
        else:
            self._timeouts = Timeouts(request=timeout)
        self._retry = retry if retry is not None else RetryPolicy()
        if not isinstance(self._retry, RetryPolicy):
            raise TypeError("retry must be a yativo_async.RetryPolicy")
        if not isinstance(token_path, str) or not token_path.startswith("/"):
            raise ValueError("token_path must be a path starting with '/'")
        self._token_path = token_path
        self._rng = random.Random(seed)
        self.stats = ClientStats()
        if not isinstance(rate_limits, (list, tuple)):
            raise TypeError("rate_limits must be a list of RateLimit")
        # redis=: the key's budget and token are shared with every process on that Redis.
        self._redis_parts: list[Any] = []
        self._redis_owned: Any = None
        redis_client = None
        if redis is not None:
            redis_client, owned = connect_redis(redis)
            self._redis_owned = redis_client if owned else None
        self._limiter: SlidingWindowLimiter | NullLimiter | RedisRateLimiter
        if not rate_limits:
            self._limiter = NullLimiter()
        elif redis_client is not None:
            identity = api_key or (
                access_token.get_secret_value() if isinstance(access_token, Secret)
                else access_token
            ) or "custom"
            self._limiter = RedisRateLimiter(redis_client, redis_key_id(identity), rate_limits,
                                             max_wait=max_wait)
            self._redis_parts.append(self._limiter)
        else:
            self._limiter = SlidingWindowLimiter(rate_limits, max_wait=max_wait)
        cache = None
        if redis_client is not None and api_key is not None:
            cache = RedisTokenCache(redis_client)
        self._tokens: TokenProvider | None = self._make_provider(
            api_key, api_secret, access_token, token_provider, token_skew, cache
        )
        self._confirm = getattr(self._tokens, "confirm", None)
        # A user's static token cannot change: a 401 on it is final, no replay.
        self._refreshable = not isinstance(self._tokens, StaticTokenProvider)
        self._two_factor = TwoFactor(two_factor) if two_factor is not None else None
        if transport is None:
            self._transport: Transport = AiohttpTransport(
                connect_timeout=self._timeouts.connect
            )
            self._owns_transport = True
        else:
            if not isinstance(transport, Transport):
                raise TypeError("transport must have async send(request) and aclose()")
            self._transport = transport
            self._owns_transport = False
        self._headers: dict[str, str] = {
            "Accept": "application/json",
            "User-Agent": user_agent or f"yativo-async/{__version__}",
        }
        self._closed = False
        self.api_keys = ApiKeysResource(self)
        self.auth = AuthResource(self)

    def _make_provider(
        self,
        api_key: str | None,
        api_secret: SecretLike | None,
        access_token: SecretLike | None,
        token_provider: TokenProvider | None,
        skew: float,
        cache: RedisTokenCache | None = None,
    ) -> TokenProvider | None:
        given = [
            name
            for name, value in (
                ("api_key/api_secret", api_key or api_secret),
                ("access_token", access_token),
                ("token_provider", token_provider),
            )
            if value
        ]
        if len(given) > 1:
            raise ValueError(f"give only one way to authenticate, got {' and '.join(given)}")
        if token_provider is not None:
            if not isinstance(token_provider, TokenProvider):
                raise TypeError("token_provider must implement get_token/invalidate/aclose")
            return token_provider
        if access_token is not None:
            return StaticTokenProvider(access_token)
        if api_key is not None or api_secret is not None:
            if api_key is None or api_secret is None:
                raise ValueError("api_key and api_secret go together: give both")
            return ExchangeTokenProvider(
                self._exchange,
                api_key,
                api_secret,
                skew=skew,
                # Each send is bounded by the request timeout and the retry policy; a flight
                # timeout would also count waiting for rate-limit budget (R4 in _auth.py).
                timeout=None,
                stats=self.stats.tokens,
                rng=self._rng,
                cache=cache,
            )
        return None

    @classmethod
    def from_env(cls, **overrides: Any) -> YativoClient:
        """Build a client from ``YATIVO_API_KEY``, ``YATIVO_API_SECRET``,
        ``YATIVO_ACCESS_TOKEN``, ``YATIVO_BASE_URL``, ``YATIVO_TOTP_SECRET`` (and
        ``YATIVO_REDIS_URL``); keyword arguments win over the environment."""
        env = os.environ
        kwargs: dict[str, Any] = {}
        for var, name in (
            ("YATIVO_API_KEY", "api_key"),
            ("YATIVO_API_SECRET", "api_secret"),
            ("YATIVO_ACCESS_TOKEN", "access_token"),
            ("YATIVO_BASE_URL", "base_url"),
            ("YATIVO_TOTP_SECRET", "two_factor"),
            ("YATIVO_REDIS_URL", "redis"),
        ):
            value = env.get(var)
            if value:
                kwargs[name] = Secret(value) if name in ("api_secret", "access_token") else value
        if "access_token" in kwargs and ("api_key" in kwargs or "api_secret" in kwargs):
            # Both set: the key pair wins (it refreshes itself); the token is ignored.
            kwargs.pop("access_token")
        if any(k in overrides for k in ("api_key", "access_token", "token_provider")):
            for k in ("api_key", "api_secret", "access_token"):
                kwargs.pop(k, None)
        kwargs.update(overrides)
        return cls(**kwargs)

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> YativoClient:
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client: cancel a token exchange under way, close the transport if the
        client made it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._tokens is not None:
            await self._tokens.aclose()
        for part in self._redis_parts:
            await part.aclose()
        if self._redis_owned is not None:
            await self._redis_owned.aclose()
        if self._owns_transport:
            await self._transport.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this YativoClient is closed; create a new one")

    def __repr__(self) -> str:
        mode = type(self._tokens).__name__ if self._tokens is not None else "no auth"
        return f"YativoClient(base_url={self._base_url!r}, auth={mode})"

    # -- introspection and control ------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def token_provider(self) -> TokenProvider | None:
        return self._tokens

    def rate_limit_status(self) -> list[WindowStatus]:
        """Per window: the budget left and when the next slot frees."""
        return self._limiter.status()

    @property
    def rate_limits(self) -> tuple[RateLimit, ...]:
        """The windows in force (stricter than configured where the server said so)."""
        return self._limiter.limits

    @property
    def time_waited_for_budget(self) -> float:
        return self._limiter.time_waited

    def adopt_rate_limits(self, limits: Sequence[RateLimit]) -> None:
        """Keep to ``limits`` too where they are stricter (for example
        ``created.rate_limit.to_rate_limits()`` for a client of that key)."""
        self._limiter.adopt(limits)

    async def rotate_credentials(
        self, *, api_key: str | None = None, api_secret: SecretLike
    ) -> None:
        """Swap the key pair atomically; the next token exchange uses it. Calls in flight
        finish on the token they hold."""
        tokens = self._tokens
        if not isinstance(tokens, ExchangeTokenProvider):
            raise TypeError("rotate_credentials needs a client built with api_key/api_secret")
        await tokens.rotate_credentials(api_key=api_key, api_secret=api_secret)

    # -- the pipeline -------------------------------------------------------------------

    async def _exchange(self, api_key: str, api_secret: Secret) -> tuple[AccessToken, float]:
        op = _Op(
            "token exchange",
            "POST",
            self._token_path,
            body={"api_key": api_key, "api_secret": api_secret.get_secret_value()},
            auth=False,
            priority=True,
        )
        response = await self._call(op)
        return decode(response.body, AccessToken, status=response.status), op.sent_at

    async def _call(self, op: _Op) -> Response:
        self._check_open()
        if op.auth and self._tokens is None:
            raise ValueError(
                f"{op.name} needs credentials: give api_key/api_secret or access_token"
            )
        stats = self.stats
        stats.calls += 1
        counter = [0]
        started = asyncio.get_running_loop().time()
        try:
            try:
                response = await self._attempt(op, 1)
            except Exception as first:
                if self._retry.max_attempts == 1:
                    raise
                response = await retry_after_failure(
                    self._retry,
                    first,
                    lambda number: self._attempt(op, number),
                    idempotent=op.idempotent,
                    rng=self._rng,
                    started=started,
                    describe=f"{op.method} {op.path}",
                    counter=counter,
                )
        except (APIConnectionError, ServerError) as exc:
            stats.failed += 1
            if not op.idempotent and _outcome_unknown(exc):
                raise _outcome_error(op) from exc
            raise
        except BaseException:
            stats.failed += 1
            raise
        finally:
            stats.retries += counter[0]
        stats.succeeded += 1
        return response

    async def _attempt(self, op: _Op, number: int = 1) -> Response:
        loop = asyncio.get_running_loop()
        tokens = self._tokens
        limiter = self._limiter
        replayed = False
        while True:
            lease: BearerToken | None = None
            if op.auth:
                assert tokens is not None
                lease = await tokens.get_token()
                slot = await limiter.acquire()
                if lease.expires_at is not None and loop.time() >= lease.expires_at:
                    # It went stale while we queued for budget: never send an expired token.
                    slot.release(sent=False)
                    continue
            else:
                slot = await limiter.acquire(priority=op.priority)
            headers = dict(self._headers)
            if lease is not None:
                headers["Authorization"] = "Bearer " + lease.value.get_secret_value()
            if op.body is not None:
                headers["Content-Type"] = "application/json"
            if op.renew_code is not None and number > 1:
                await self._renew_code(op, op.renew_code)
            if op.code is not None:
                headers["X-2FA-Token"] = op.code
            request = Request(
                method=op.method,
                url=self._base_url + op.path,
                headers=headers,
                body=op.body,
                timeout=self._timeouts.request,
            )
            self.stats.attempts += 1
            started = loop.time()
            try:
                response = await self._transport.send(request)
            finally:
                slot.release()
            op.sent_at = started
            status = response.status
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug(
                    "%s %s -> %d (attempt %d, %.1f ms, request id %s)",
                    op.method,
                    op.path,
                    status,
                    number,
                    (loop.time() - started) * 1000,
                    response.headers.get("x-request-id", "-"),
                )
            retry_after = self._learn(response, loop.time())
            if status < 400:
                if lease is not None and self._confirm is not None:
                    self._confirm(lease)
                return response
            if status == 401 and lease is not None and not replayed and self._refreshable:
                assert tokens is not None
                tokens.invalidate(lease)
                replayed = True
                self.stats.auth_replays += 1
                continue
            raise error_from_response(
                status, response.headers, response.body, retry_after=retry_after
            )

    def _learn(self, response: Response, now: float) -> float | None:
        """Adopt what the server says about its limits (only ever stricter)."""
        headers = response.headers
        status = response.status
        if status != 429 and not any(name in headers for name in _LIMIT_HEADERS):
            return None
        info = parse_rate_limit_headers(headers, now_epoch=time.time())
        limiter = self._limiter
        if info.policies:
            limiter.adopt(info.policies)
        if info.limit is not None:
            limiter.adopt_unknown_period(info.limit)
        if status == 429:
            self.stats.server_429s += 1
            pause = info.retry_after if info.retry_after is not None else info.reset_after
            limiter.pause_until(now + (pause if pause is not None else 1.0))
            if info.retry_after is None and info.reset_after is not None:
                return info.reset_after
        elif info.remaining is not None and info.reset_after is not None:
            limiter.server_budget(info.remaining, now + info.reset_after)
        return info.retry_after

    @staticmethod
    async def _renew_code(op: _Op, source: TwoFactor) -> None:
        code = await source.code()
        if code == op.code:
            return
        op.code = code
        fields = op.body_fields
        if fields is not None and "two_factor_token" in fields:
            op.body_fields = {**fields, "two_factor_token": code}
            op.body = json.dumps(op.body_fields, separators=(",", ":")).encode()

    def _renewable(self, given: str | None) -> TwoFactor | None:
        """The TOTP source to renew codes from, when the call did not bring its own code."""
        source = self._two_factor
        return source if given is None and source is not None and source.renewable else None

    async def _code(self, given: str | None, what: str) -> str:
        if given is not None:
            return check_code(given)
        if self._two_factor is None:
            raise ValueError(
                f"{what} needs a 2FA code: pass two_factor_code=... or build the client "
                "with two_factor= (a TOTP secret or a callable)"
            )
        return await self._two_factor.code()


def _outcome_unknown(exc: BaseException) -> bool:
    if isinstance(exc, APIConnectionError):
        return exc.maybe_sent
    if isinstance(exc, APIStatusError):
        return exc.status >= 500 and not (exc.status == 503 and exc.retry_after is not None)
    return False


def _outcome_error(op: _Op) -> OutcomeUnknownError:
    if op.name == "rotate":
        message = (
            f"rotating key {op.key_id!r} may or may not have happened; it was not retried, "
            "since a second rotation would replace (and hide) the new secret of the first. "
            "Check the key before rotating again"
        )
    else:
        message = (
            f"{op.name} of key {op.key_name!r} may or may not have happened; it was not "
            "retried, since a duplicate key whose secret nobody saw is worse than an error. "
            "Check api_keys.list() before trying again"
        )
    return OutcomeUnknownError(
        message, operation=op.name, key_name=op.key_name, key_id=op.key_id
    )


def _check_base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise TypeError("base_url must be a str")
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
    return url


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name.strip():
        raise ValueError("name must not be empty")
    if len(name) > 255:
        raise ValueError("name must be at most 255 characters")
    return name


def _check_permissions(permissions: object, arg: str = "permissions") -> list[str]:
    if isinstance(permissions, (str, bytes)):
        raise TypeError(f"{arg} must be a list of strings, not a single string")
    if not isinstance(permissions, (list, tuple, set, frozenset)):
        raise TypeError(f"{arg} must be a list of strings, not {type(permissions).__name__}")
    out: list[str] = []
    for p in permissions:
        value = p.value if hasattr(p, "value") and isinstance(p.value, str) else p
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{arg} holds an invalid permission: {p!r}")
        if value not in out:
            out.append(value)
    return out


def _check_expires_at(expires_at: datetime | str) -> str:
    if isinstance(expires_at, datetime):
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware (e.g. datetime.now(timezone.utc))")
        return expires_at.isoformat().replace("+00:00", "Z")
    if isinstance(expires_at, str):
        from ._converter import parse_datetime

        try:
            parse_datetime(expires_at)
        except (TypeError, ValueError):
            raise ValueError(f"expires_at is not an ISO 8601 timestamp: {expires_at!r}") from None
        return expires_at
    raise TypeError(
        f"expires_at must be a datetime or ISO 8601 str, not {type(expires_at).__name__}"
    )


class ApiKeysResource:
    """``client.api_keys``: every key-management endpoint of both doc pages."""

    def __init__(self, client: YativoClient) -> None:
        self._client = client

    async def list(self) -> list[ApiKey]:
        """``GET /apikey/list``: every key on the account (no secrets)."""
        response = await self._client._call(_Op("list", "GET", "/apikey/list"))
        return decode_key_list(response.body, status=response.status)

    async def get(self, key_id: str) -> ApiKey:
        """``GET /apikey/{id}``."""
        response = await self._client._call(_Op("get", "GET", key_path(key_id)))
        return decode(response.body, ApiKey, status=response.status)

    async def create(
        self,
        *,
        name: str,
        permissions: Sequence[str] | None = None,
        expires_in_days: int | None = None,
        two_factor_code: str | None = None,
    ) -> CreatedApiKey:
        """``POST /apikey/create`` (doc 002): needs 2FA, sent as the ``X-2FA-Token`` header
        and ``two_factor_token`` in the body. Not retried where it may have reached the
        server (`OutcomeUnknownError`)."""
        body: dict[str, Any] = {"name": _check_name(name)}
        if permissions is not None:
            body["permissions"] = _check_permissions(permissions)
        if expires_in_days is not None:
            if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int):
                raise TypeError("expires_in_days must be an int")
            if expires_in_days < 1:
                raise ValueError("expires_in_days must be >= 1")
            body["expires_in_days"] = expires_in_days
        code = await self._client._code(two_factor_code, "create")
        body["two_factor_token"] = code
        op = _Op("create", "POST", "/apikey/create", body=body, idempotent=False, code=code,
                 key_name=name, renew_code=self._client._renewable(two_factor_code))
        response = await self._client._call(op)
        return decode(response.body, CreatedApiKey, status=response.status)

    async def generate(
        self,
        *,
        name: str,
        permissions: Sequence[str] | None = None,
        expires_at: datetime | str | None = None,
        two_factor_code: str | None = None,
    ) -> CreatedApiKey:
        """``POST /apikey/generate`` (doc 000): scoped permissions (omit for all scopes),
        optional ``expires_at``. Not retried where it may have reached the server."""
        body: dict[str, Any] = {"name": _check_name(name)}
        if permissions is not None:
            body["permissions"] = _check_permissions(permissions)
        if expires_at is not None:
            body["expires_at"] = _check_expires_at(expires_at)
        code = check_code(two_factor_code) if two_factor_code is not None else None
        op = _Op("generate", "POST", "/apikey/generate", body=body, idempotent=False,
                 code=code, key_name=name)
        response = await self._client._call(op)
        return decode(response.body, CreatedApiKey, status=response.status)

    async def rotate(
        self, key_id: str, *, two_factor_code: str | None = None, adopt: bool | None = None
    ) -> RotatedApiKey:
        """``POST /apikey/{id}/rotate``: a new secret; the old one stops working.

        ``adopt``: swap the client's own credentials to the new secret (default: when the
        rotated key is the client's own key), so a bot rotates with no restart.
        """
        path = key_path(key_id, "/rotate")
        code = await self._client._code(two_factor_code, "rotate")
        op = _Op("rotate", "POST", path, idempotent=False, code=code, key_id=key_id,
                 renew_code=self._client._renewable(two_factor_code))
        response = await self._client._call(op)
        rotated = decode(response.body, RotatedApiKey, status=response.status)
        tokens = self._client._tokens
        if isinstance(tokens, ExchangeTokenProvider) and adopt is not False:
            own = rotated.api_key is not None and rotated.api_key == tokens.api_key
            if adopt or own:
                await tokens.rotate_credentials(
                    api_key=rotated.api_key or tokens.api_key, api_secret=rotated.api_secret
                )
        return rotated

    async def revoke(self, key_id: str, *, two_factor_code: str | None = None) -> None:
        """``POST /apikey/{id}/revoke``: permanent."""
        path = key_path(key_id, "/revoke")
        code = await self._client._code(two_factor_code, "revoke")
        await self._client._call(
            _Op("revoke", "POST", path, code=code, key_id=key_id,
                renew_code=self._client._renewable(two_factor_code))
        )

    async def update_permissions(
        self,
        key_id: str,
        permissions: Sequence[str],
        *,
        two_factor_code: str | None = None,
    ) -> None:
        """``PUT /apikey/{id}/permissions``: replaces the whole set."""
        path = key_path(key_id, "/permissions")
        perms = _check_permissions(permissions)
        if not perms:
            raise ValueError("permissions must not be empty")
        code = await self._client._code(two_factor_code, "update_permissions")
        await self._client._call(
            _Op("update_permissions", "PUT", path, body={"permissions": perms}, code=code,
                key_id=key_id, renew_code=self._client._renewable(two_factor_code))
        )


class AuthResource:
    """``client.auth``."""

    def __init__(self, client: YativoClient) -> None:
        self._client = client

    async def exchange_token(
        self, *, api_key: str | None = None, api_secret: SecretLike | None = None
    ) -> AccessToken:
        """Exchange a key pair for a bearer token (the client's own pair by default).

        This is an explicit exchange; the client's own calls use its cached token.
        """
        tokens = self._client._tokens
        if api_key is None and api_secret is None:
            if not isinstance(tokens, ExchangeTokenProvider):
                raise ValueError("exchange_token needs api_key and api_secret")
            creds = tokens._creds
            api_key, secret = creds.api_key, creds.api_secret
        elif api_key is None or api_secret is None:
            raise ValueError("api_key and api_secret go together: give both")
        else:
            secret = to_secret(api_secret, "api_secret")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        stats = self._client.stats.tokens
        stats.exchanges += 1
        stats.refreshes["explicit"] = stats.refreshes.get("explicit", 0) + 1
        access, _sent = await self._client._exchange(api_key, secret)
        return access

    async def token(self) -> BearerToken:
        """The token the client would send now (fetched if needed)."""
        tokens = self._client._tokens
        if tokens is None:
            raise ValueError("this client has no credentials")
        return await tokens.get_token()
