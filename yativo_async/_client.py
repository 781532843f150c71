"""`YativoClient`: settings, choosing the token provider, the limiter and the transport,
and the client's lifecycle. It only wires; a call runs in `_pipeline.py`, endpoints live in
`_resources.py`, the wire protocol in `_sansio.py`.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import logging
import math
import os
import random
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypedDict
from urllib.parse import urlsplit

from ._aiohttp import AiohttpTransport
from ._auth import (
    CodeSource,
    ExchangeTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    TwoFactor,
)
from ._config import DEFAULT_RATE_LIMITS, RateLimit, RetryPolicy, Timeouts
from ._errors import ClientClosedError
from ._hooks import Observer, Observers, observers
from ._logging import configure_from_env
from ._pipeline import ClientStats, Options, Pipeline
from ._ratelimit import Limiter, NullLimiter, SlidingWindowLimiter, WindowStatus, check_reserve
from ._redis import (
    LEASE_MARGIN,
    RedisRateLimiter,
    RedisTokenCache,
    check_fallback,
    connect_redis,
    redis_key_id,
)
from ._resources import (
    ApiKeysResource,
    AuthResource,
    check_lane,
    check_max_wait,
    evolve_options,
    exchange_token,
)
from ._sansio import header_safe
from ._secret import Secret, SecretLike
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, Transport
from ._version import __version__

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # a dependency of cattrs (and aiohttp) below 3.11
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiKeysResource",
    "AuthResource",
    "ClientOptions",
    "ClientStats",
    "YativoClient",
]

DEFAULT_BASE_URL: Final = "https://crypto-api.yativo.com/api"
TOKEN_PATH: Final = "/apikey/token"

_log = logging.getLogger("yativo_async")

#: the variables `YativoClient.from_env()` reads, and the argument each one fills
ENV_VARS: Final = (
    ("YATIVO_API_KEY", "api_key"),
    ("YATIVO_API_SECRET", "api_secret"),
    ("YATIVO_ACCESS_TOKEN", "access_token"),
    ("YATIVO_BASE_URL", "base_url"),
    ("YATIVO_TOTP_SECRET", "two_factor"),
    ("YATIVO_REDIS_URL", "redis"),
)


class ClientOptions(TypedDict, total=False):
    """The keyword arguments of `YativoClient`, for ``from_env(**overrides)``: a misspelt
    option is a type-checker error (and a ``TypeError`` at run time)."""

    api_key: str | None
    api_secret: SecretLike | None
    access_token: SecretLike | None
    token_provider: TokenProvider | None
    base_url: str
    two_factor: SecretLike | CodeSource | None
    rate_limits: Sequence[RateLimit]
    max_wait: float | None
    transport: Transport | None
    retry: RetryPolicy | None
    timeout: float | Timeouts
    token_path: str | None
    token_skew: float
    user_agent: str | None
    seed: int | None
    redis: Any
    allow_insecure_http: bool
    interactive_reserve: float
    redis_fallback: Literal["fail", "local"]
    local_share: float | None
    max_response_bytes: int
    hooks: Observer | Sequence[Observer] | None


class _Unset(enum.Enum):
    UNSET = "unset"


#: "not given" for `YativoClient.with_options` (where ``None`` has a meaning)
_UNSET: Final = _Unset.UNSET


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
        token_path: ``"/apikey/token"`` (doc 002) or ``"/auth/token"`` (doc 000). Unset,
            the client starts with ``"/apikey/token"`` and, if the server answers 404 or
            405 there, uses ``"/auth/token"`` from then on (and the other way round).
        redis: a URL or a ``redis.asyncio.Redis`` (extra ``redis``): the key's rate-limit
            budget and its bearer token are shared with every process on that Redis.
        interactive_reserve: the share of every rate-limit window that ``"batch"`` calls may
            not take, so an interactive call finds budget at once while a batch job
            saturates the key (0 turns the reserve off; interactive calls still go first).
        redis_fallback: with ``redis=``, what happens while Redis is unreachable: ``"fail"``
            (default) raises `RedisUnavailableError` before sending anything; ``"local"``
            goes on with an in-process limiter at ``local_share`` of the budget and returns
            to Redis by itself.
        local_share: the share of each window one process may use during an outage
            (``redis_fallback="local"``; required there).
        allow_insecure_http: allow an ``http://`` base URL to a host that is not loopback
            (the API secret, tokens and 2FA codes would cross the network unencrypted).
            TLS verification cannot be switched off here: pass your own transport (with
            your own SSL context) for that.
        max_response_bytes: the longest response body accepted, in bytes counted after
            decompression (default 8 MiB). Every transport reads a body in a streaming way
            and stops there with `ResponseTooLargeError` (a `ResponseDecodeError`), so an
            endless body or a compression bomb cannot grow the process.
        hooks: `Hooks` (your callables for each request, response, retry, wait for budget,
            token exchange and call) and/or `OpenTelemetry()`, or a list of them.

    Raises:
        ValueError, TypeError: a bad argument (named in the message), before anything is
            sent: a base URL with a query, fragment, user info or control characters, plain
            HTTP to a remote host, a header value (user agent, token) with CR/LF/NUL ...
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
        token_path: str | None = None,
        token_skew: float = 60.0,
        user_agent: str | None = None,
        seed: int | None = None,
        redis: Any = None,
        allow_insecure_http: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        interactive_reserve: float = 0.1,
        redis_fallback: Literal["fail", "local"] = "fail",
        local_share: float | None = None,
        hooks: Observer | Sequence[Observer] | None = None,
    ) -> None:
        configure_from_env()  # YATIVO_LOG, for people who have not set up logging
        self._base_url = _check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
            raise TypeError("max_response_bytes must be an int (bytes)")
        if max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be >= 1, got {max_response_bytes}")
        if user_agent is not None:
            _check_header_value(user_agent, "user_agent")
        if access_token is not None:
            _check_header_value(
                access_token.get_secret_value() if isinstance(access_token, Secret)
                else access_token,
                "access_token",
            )
        if isinstance(timeout, Timeouts):
            self._timeouts = timeout
        else:
            self._timeouts = Timeouts(request=timeout)
        self._retry = retry if retry is not None else RetryPolicy()
        if not isinstance(self._retry, RetryPolicy):
            raise TypeError("retry must be a yativo_async.RetryPolicy")
        #: whether the token path is the SDK's to choose (it finds the one the server has)
        self._token_path_auto = token_path is None
        if token_path is None:
            token_path = TOKEN_PATH
        if not isinstance(token_path, str) or not token_path.startswith("/"):
            raise ValueError("token_path must be a path starting with '/'")
        max_wait = check_max_wait(max_wait)  # as with_options() checks it
        if isinstance(token_skew, bool) or not isinstance(token_skew, (int, float)):
            raise TypeError(f"token_skew must be seconds, not {type(token_skew).__name__}")
        if not (token_skew >= 0 and math.isfinite(token_skew)):
            raise ValueError(f"token_skew must be a finite number >= 0, got {token_skew!r}")
        self.token_path = token_path
        self._rng = random.Random(seed)
        self._hooks: Observers | None = observers(hooks)
        self.stats = ClientStats()
        if not isinstance(rate_limits, (list, tuple)):
            raise TypeError("rate_limits must be a list of RateLimit")
        # redis=: the key's budget and token are shared with every process on that Redis.
        self._redis_parts: list[Any] = []
        self._redis_owned: Any = None
        check_reserve(interactive_reserve)
        check_fallback(redis_fallback, local_share)
        redis_client = None
        if redis is not None:
            redis_client, owned = connect_redis(redis)
            self._redis_owned = redis_client if owned else None
        self._limiter: Limiter
        if not rate_limits:
            self._limiter = NullLimiter(max_wait=max_wait)  # a server 429's wait is bounded
        elif redis_client is not None:
            identity = api_key or (
                access_token.get_secret_value() if isinstance(access_token, Secret)
                else access_token
            ) or _provider_identity(token_provider)
            self._limiter = RedisRateLimiter(
                redis_client, redis_key_id(identity), rate_limits, max_wait=max_wait,
                interactive_reserve=interactive_reserve, fallback=redis_fallback,
                local_share=local_share, stats=self.stats.fleet,
                # An in-flight slot lives as long as an attempt can (renewed past it).
                lease=self._timeouts.request + LEASE_MARGIN,
            )
            self._redis_parts.append(self._limiter)
        else:
            self._limiter = SlidingWindowLimiter(rate_limits, max_wait=max_wait,
                                                 interactive_reserve=interactive_reserve)
        cache = None
        if redis_client is not None and api_key is not None:
            cache = RedisTokenCache(redis_client, fallback=redis_fallback)
        self._tokens: TokenProvider = self._make_provider(
            api_key, api_secret, access_token, token_provider, token_skew, cache
        )
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
        self._pipeline = Pipeline(
            base_url=self._base_url,
            headers={
                "Accept": "application/json",
                "User-Agent": user_agent or f"yativo-async/{__version__}",
            },
            transport=self._transport,
            limiter=self._limiter,
            tokens=self._tokens,
            stats=self.stats,
            rng=self._rng,
            max_response_bytes=max_response_bytes,
            hooks=self._hooks,
        )
        if self._two_factor is not None:
            self._pipeline.totp_secret = self._two_factor.secret
        self._options = Options(timeout=self._timeouts.request, retry=self._retry)
        self._closed = False
        #: the client that owns the pool; ``self`` unless this is a `with_options()` view
        self._root: YativoClient = self
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
    ) -> TokenProvider:
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
                missing = "api_secret (YATIVO_API_SECRET)" if api_secret is None else (
                    "api_key (YATIVO_API_KEY)"
                )
                raise ValueError(f"api_key and api_secret go together: {missing} is missing")
            return ExchangeTokenProvider(
                functools.partial(exchange_token, self),
                api_key,
                api_secret,
                skew=skew,
                # Each send is bounded by the request timeout and the retry policy; a flight
                # timeout would also count waiting for rate-limit budget (R4 in _auth.py).
                timeout=None,
                stats=self.stats.tokens,
                rng=self._rng,
                cache=cache,
                on_exchange=None if self._hooks is None else self._hooks.token_exchange,
            )
        # Fail at construction, not at the first request of a web app hours later.
        raise ValueError(
            "YativoClient has no credentials: pass api_key= and api_secret= (server to "
            "server), access_token= (a user's bearer token) or token_provider=; or set "
            "YATIVO_API_KEY and YATIVO_API_SECRET (or YATIVO_ACCESS_TOKEN) and use "
            "YativoClient.from_env()"
        )

    @classmethod
    def from_env(cls, **overrides: Unpack[ClientOptions]) -> YativoClient:
        """Build a client from ``YATIVO_API_KEY``, ``YATIVO_API_SECRET``,
        ``YATIVO_ACCESS_TOKEN``, ``YATIVO_BASE_URL``, ``YATIVO_TOTP_SECRET`` (and
        ``YATIVO_REDIS_URL``, ``YATIVO_ALLOW_INSECURE_HTTP=1``); keyword arguments (any of
        `YativoClient`'s, typed by `ClientOptions`) win over the environment.

        Raises:
            ValueError: no credentials in the environment or the overrides (the message
                names the variables and the arguments).
        """
        env = os.environ
        kwargs: dict[str, Any] = {}
        for var, name in ENV_VARS:
            # A value copied with a stray newline or space ("tok\n" from a .env file) means
            # the value without it; a blank one (" ") means the variable is not set. Not for
            # the base URL: a blank one (a template that rendered nothing) would send a
            # development token to production.
            value = env.get(var, "").strip()
            if value:
                kwargs[name] = Secret(value) if name in ("api_secret", "access_token") else value
            elif name == "base_url" and var in env and name not in overrides:
                raise ValueError(f"{var} is empty (set, but blank): give the API's URL, or "
                                 f"unset it for the production API ({DEFAULT_BASE_URL}); "
                                 "nothing was sent")
        insecure = env.get("YATIVO_ALLOW_INSECURE_HTTP", "").strip().lower()
        if insecure in ("1", "true", "yes", "on"):
            kwargs["allow_insecure_http"] = True
        elif insecure not in ("", "0", "false", "no", "off"):
            raise ValueError(
                f"YATIVO_ALLOW_INSECURE_HTTP must be 1/true/yes/on or 0/false/no/off, "
                f"got {insecure!r}"
            )
        if "access_token" in kwargs and ("api_key" in kwargs or "api_secret" in kwargs):
            # Both set: the key pair wins (it refreshes itself); the token is ignored.
            kwargs.pop("access_token")
        if any(k in overrides for k in ("api_key", "access_token", "token_provider")):
            for k in ("api_key", "api_secret", "access_token"):
                kwargs.pop(k, None)
        from_env = {name: var for var, name in ENV_VARS
                    if name in kwargs and name not in overrides}
        kwargs.update(overrides)
        if "api_key" in from_env and not kwargs.get("api_secret"):
            raise ValueError("YATIVO_API_KEY is set but YATIVO_API_SECRET is not: set both "
                             "(or pass api_secret=)")
        try:
            return cls(**kwargs)
        except ValueError as exc:
            # Name the variable a bad value came from ("two_factor is not a TOTP secret"
            # says nothing to someone who set YATIVO_TOTP_SECRET).
            text = str(exc)
            source = next((var for n, var in from_env.items() if text.startswith(n)), None)
            if source is None:
                raise
            failure = ValueError(f"{source}: {text}")
        raise failure  # (outside the handler: nothing of the value chained)

    # -- per-call options ---------------------------------------------------------------

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_wait: float | _Unset | None = _UNSET,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        priority: Literal["interactive", "batch"] | None = None,
    ) -> YativoClient:
        """A view of this client with other per-call settings; only what you pass changes.

        The view shares this client's connection pool, rate limiter, token, 2FA source and
        stats: it opens nothing and starts nothing, so making one per request is cheap and
        leaks nothing (it is garbage once unreferenced). ``extra_headers`` add to (and
        override, by name) the ones already set; they cannot set ``Authorization`` or
        ``X-2FA-Token``. ``priority="batch"`` puts the view's calls behind interactive
        ones when both wait for rate-limit budget (``max_wait=None``: no bound).

        Closing a view (``aclose()``, ``async with``) closes only the view: later calls
        through it raise `ClientClosedError`; the client and its other views carry on, and
        the view's calls already running finish. Closing the client closes every view.

        Raises:
            ValueError, TypeError: a bad setting (named), before anything is sent.
            ClientClosedError: the client (or this view) is closed.

        .. versionadded:: 0.2
        """
        self._check_open()
        changes: dict[str, Any] = {}
        if max_wait is not _UNSET:
            changes["max_wait"] = check_max_wait(max_wait)
        if retry is not None:
            if not isinstance(retry, RetryPolicy):
                raise TypeError("retry must be a yativo_async.RetryPolicy")
            changes["retry"] = retry
        if priority is not None:
            changes["lane"] = check_lane(priority)
        options = evolve_options(
            self._options, timeout=timeout, extra_headers=extra_headers, **changes
        )
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._options = options
        view._closed = False
        view._root = self._root
        view.api_keys = ApiKeysResource(view)
        view.auth = AuthResource(view)
        return view

    @property
    def is_view(self) -> bool:
        """Whether this is a `with_options()` view (closing it leaves the client open)."""
        return self._root is not self

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> YativoClient:
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self, *, timeout: float | None = 0.0) -> None:
        """Close the client. Idempotent; never raises once it starts (a ``timeout`` that is
        not ``None`` or a number >= 0 is a `TypeError`/`ValueError` before anything closes).

        Calls still running end with `ClientClosedError` (never a ``CancelledError`` you did
        not ask for): at once by default, or after up to ``timeout`` seconds in which they
        may finish (``timeout=None`` waits for all of them). Then a token exchange under way
        is cancelled, and the transport is closed if the client made it. A close cut short
        (``asyncio.wait_for(client.aclose(timeout=10), 1)``) still ends the running calls and
        lets go of the connections.
        """
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"timeout must be None or a number, not {type(timeout).__name__}")
            if not timeout >= 0:  # NaN too
                raise ValueError(f"timeout must be None or a number >= 0, got {timeout!r}")
        if self._closed:
            return
        self._closed = True
        if self._root is not self:
            return  # a view owns nothing: the client and its other views carry on
        try:
            await self._pipeline.close(timeout=timeout)
        finally:
            # shielded: a close cut short still lets go of what the client holds
            await asyncio.shield(self._release())

    async def _release(self) -> None:
        await self._tokens.aclose()
        for part in self._redis_parts:
            await part.aclose()
        if self._redis_owned is not None:
            await self._redis_owned.aclose()
        if self._owns_transport:
            await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """Whether `aclose` was called (a closed client refuses calls with `ClientClosedError`)."""
        return self._closed or self._root._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError(
                "this YativoClient view is closed (the client it came from is not)"
                if self._root is not self and not self._root._closed
                else "this YativoClient is closed; create a new one"
            )
        if self._root._closed:
            raise ClientClosedError("this YativoClient is closed; create a new one")

    def __repr__(self) -> str:
        mode = type(self._tokens).__name__
        view = ", view" if self._root is not self else ""
        return f"YativoClient(base_url={self._base_url!r}, auth={mode}{view})"

    # -- introspection and control ------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root every path is joined to."""
        return self._base_url

    @property
    def token_provider(self) -> TokenProvider:
        """Where bearer tokens come from (static, exchanged, or shared through Redis)."""
        return self._tokens

    def rate_limit_status(self) -> list[WindowStatus]:
        """Per window: the budget left and when the next slot frees. Never raises (with
        Redis, the last status this process saw)."""
        return self._limiter.status()

    @property
    def rate_limits(self) -> tuple[RateLimit, ...]:
        """The windows in force (stricter than configured where the server said so)."""
        return self._limiter.limits

    @property
    def time_waited_for_budget(self) -> float:
        """Seconds calls have spent waiting for rate-limit budget, summed."""
        return self._limiter.time_waited

    def adopt_rate_limits(self, limits: Sequence[RateLimit]) -> None:
        """Keep to ``limits`` too where they are stricter (for example
        ``created.rate_limit.to_rate_limits()`` for a client of that key).

        Raises:
            TypeError: an item is not a `RateLimit`.
        """
        for rl in limits:
            if not isinstance(rl, RateLimit):
                raise TypeError(f"adopt_rate_limits takes RateLimit values, got {rl!r}")
        self._limiter.adopt(limits)

    async def rotate_credentials(
        self, *, api_key: str | None = None, api_secret: SecretLike
    ) -> None:
        """Swap the key pair atomically; the next token exchange uses it. Calls in flight
        finish on the token they hold.

        Raises:
            TypeError: the client does not exchange a key pair (a static token or a
                provider of your own).
        """
        tokens = self._tokens
        if not isinstance(tokens, ExchangeTokenProvider):
            raise TypeError("rotate_credentials needs a client built with api_key/api_secret")
        await tokens.rotate_credentials(api_key=api_key, api_secret=api_secret)
        if isinstance(self._limiter, RedisRateLimiter):
            # Another API key has a budget of its own (per key, at the server and in the
            # fleet): count against it, with every other process on that key.
            self._limiter.rename(redis_key_id(tokens.api_key))



def _provider_identity(provider: object) -> str:
    """The budget a client with its own token provider shares through Redis: the key it
    stands for (``provider.api_key``, or ``provider.budget_name``), so that providers of
    different keys do not share one budget. A provider that says neither shares the
    ``"custom"`` budget with every other such provider on that Redis (logged)."""
    for attribute in ("budget_name", "api_key"):
        value = getattr(provider, attribute, None)
        if isinstance(value, str) and value:
            return value
    _log.warning(
        "redis= with a token_provider that has no api_key or budget_name attribute: every "
        "such client on this Redis shares one rate-limit budget; give the provider an "
        "api_key (or budget_name) attribute naming its key"
    )
    return "custom"


def _check_base_url(base_url: object, *, allow_insecure_http: bool) -> str:
    """The API root, or a ``ValueError`` saying what is wrong with it: only a scheme, a
    host (and port) and a path; plain HTTP only to loopback unless allowed."""
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str, not {type(base_url).__name__}")
    if not header_safe(base_url) or any(c.isspace() for c in base_url.strip()):
        raise ValueError("base_url contains whitespace or control characters")
    url = base_url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"base_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {url!r}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError(
            "base_url must not contain a user name or password (credentials go in "
            "api_key/api_secret or access_token)"
        )
    if parts.query or "?" in url:
        raise ValueError("base_url must not have a query string ('?...')")
    if parts.fragment or "#" in url:
        raise ValueError("base_url must not have a fragment ('#...')")
    if parts.scheme == "http" and not allow_insecure_http and not _loopback(parts.hostname):
        raise ValueError(
            f"base_url {parts.scheme}://{parts.hostname}{'' if port is None else f':{port}'} "
            "would send the API secret, bearer tokens and 2FA codes unencrypted; use https, "
            "or pass allow_insecure_http=True (YATIVO_ALLOW_INSECURE_HTTP=1 for from_env and "
            "the CLI) if you really mean it"
        )
    return url


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_header_value(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not header_safe(value):
        raise ValueError(f"{name} contains control characters (CR, LF, NUL ...)")
    return value
