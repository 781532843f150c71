"""Bearer tokens and 2FA codes.

Rules of the single-flight token provider (`ExchangeTokenProvider`); each has a test:

R1  a fresh token is returned with no lock and no suspension point;
R2  at most one exchange is in flight; every caller that needs a token joins it;
R3  the flight is a task the provider owns; callers wait through ``asyncio.shield``, so a
    cancelled caller (the one that started it included) cancels only itself; the result is
    cached even if every waiter left; only ``aclose()`` cancels a flight;
R4  every exchange is bounded by a timeout (``timeout=``; the client passes ``None`` and
    bounds each send with the request timeout instead, so that waiting for rate-limit
    budget, which may rightly take hours, is not mistaken for a hung endpoint);
R5  a failed flight's error reaches every joined waiter, each as its own exception object
    chained ``from`` the shared cause, and is never cached as a result;
R6  before ``refresh_at`` serve; between ``refresh_at`` and ``expires_at`` serve and refresh
    once in the background (a failure there is tolerated); past ``expires_at`` wait;
R7  lifetimes count from when the exchange was sent, on the loop's clock;
R8  the early margin is at most half the lifetime;
R9  after a failure no exchange starts before a jittered exponential backoff; callers with no
    usable token fail fast meanwhile;
R10 a 401 clears the token only if it is still the current one (compare-and-clear);
R11 a token fetched because of a 401 that has never worked is not cleared by another 401
    (an API that always answers 401 costs one replay per request, no refresh churn);
R12 no "Task exception was never retrieved"; secrets never in logs or errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, runtime_checkable

import attrs
import pyotp

from ._errors import ClientClosedError, RedisUnavailableError, TokenUnavailableError, YativoError
from ._hooks import TokenExchangeEvent
from ._models import AccessToken
from ._sansio import mask_secrets
from ._secret import Secret, SecretLike, to_secret

__all__ = [
    "BearerToken",
    "ExchangeTokenProvider",
    "StaticTokenProvider",
    "TokenProvider",
    "TokenStats",
    "TwoFactor",
]

_log = logging.getLogger("yativo_async")
#: the longest token lifetime believed (seconds): a longer ``expires_in`` is capped to it
MAX_TOKEN_TTL = 7 * 86400

_R = TypeVar("_R")


@attrs.frozen(eq=False)
class BearerToken:
    """A bearer token as the client sends it. Compared by identity (its generation).

    ``expires_at``/``refresh_at`` are loop times (``loop.time()``), ``None`` for a token with
    no known lifetime.
    """

    value: Secret
    expires_at: float | None = None
    refresh_at: float | None = None
    generation: int = 0
    reason: str = "static"


@runtime_checkable
class TokenProvider(Protocol):
    """Where the client gets bearer tokens. Plug your own (a vault, a sidecar)."""

    async def get_token(self) -> BearerToken:
        """A token to send now."""
        ...

    def invalidate(self, token: BearerToken) -> None:
        """The server answered 401 to ``token``. Forget it if it is still current."""
        ...

    async def aclose(self) -> None:
        """Release what the provider holds (a running exchange, a Redis connection)."""
        ...


class StaticTokenProvider:
    """A user's bearer token, used as is (a 401 is final)."""

    def __init__(self, access_token: SecretLike) -> None:
        secret = to_secret(access_token, "access_token")
        if not secret.get_secret_value().strip():
            raise ValueError("access_token must not be empty or blank")
        self._token = BearerToken(secret)

    async def get_token(self) -> BearerToken:
        """The token given to the client; never changes."""
        return self._token

    def ready(self) -> BearerToken:
        """`get_token` without awaiting (the client's hot path asks this first)."""
        return self._token

    def invalidate(self, token: BearerToken) -> None:
        """Nothing to refresh: a user's static token that got a 401 stays as it is (the 401 is
        final)."""
        return None

    async def aclose(self) -> None:
        """Nothing to close."""
        return None


@attrs.define
class TokenStats:
    """Counters of the token provider."""

    exchanges: int = 0
    failures: int = 0
    #: tokens taken from the fleet's shared cache (Redis) instead of exchanged
    shared: int = 0
    refreshes: dict[str, int] = attrs.field(factory=dict)

    def record_exchange(self, reason: str) -> None:
        """One exchange request, made for ``reason`` (``cold``, ``expiry``, ``401``,
        ``explicit`` ...)."""
        self.exchanges += 1
        self.refreshes[reason] = self.refreshes.get(reason, 0) + 1


@attrs.frozen
class _Credentials:
    api_key: str
    api_secret: Secret = attrs.field(repr=False)


Exchange = Callable[[str, Secret], Awaitable[tuple[AccessToken, float]]]


class TokenCache(Protocol):
    """A token store shared by many processes (`RedisTokenCache`)."""

    async def fetch(
        self, api_key: str, api_secret: Secret, exchange: Exchange, *, reject: Secret | None
    ) -> tuple[AccessToken, float]: ...


class ExchangeTokenProvider:
    """Exchanges ``api_key``/``api_secret`` for bearer tokens, single-flight.

    Args:
        exchange: ``async (api_key, api_secret) -> (AccessToken, sent_at)``, where
            ``sent_at`` is the loop time at which the exchange request left.
        skew: seconds before expiry at which a token stops being sent (capped at half the
            lifetime).
        refresh_ratio: share of the lifetime after which a background refresh starts.
        timeout: bound on one exchange (its retries included); ``None`` when the exchange
            bounds itself.
        backoff_base, backoff_max: failure backoff, doubling, jittered.
        on_exchange: told of each exchange (a `TokenExchangeEvent`, no secret in it);
            must not raise or block (the client passes its observers).
    """

    def __init__(
        self,
        exchange: Exchange,
        api_key: str,
        api_secret: SecretLike,
        *,
        skew: float = 60.0,
        refresh_ratio: float = 0.8,
        timeout: float | None = 60.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        stats: TokenStats | None = None,
        rng: random.Random | None = None,
        cache: TokenCache | None = None,
        on_exchange: Callable[[TokenExchangeEvent], None] | None = None,
    ) -> None:
        if not 0 < refresh_ratio <= 1:
            raise ValueError("refresh_ratio must be in (0, 1]")
        self._exchange = exchange
        self._creds = _check_credentials(api_key, api_secret)
        #: every API secret this provider has held (a rotated-away one is still a secret)
        self._held: tuple[Secret, ...] = (self._creds.api_secret,)
        self._skew = skew
        self._ratio = refresh_ratio
        self._timeout = timeout
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self.stats = stats if stats is not None else TokenStats()
        self._rng = rng or random.Random()
        self._cache = cache
        self._on_exchange = on_exchange
        self._rejected: Secret | None = None  # a token the server refused (401)
        self._token: BearerToken | None = None
        self._generation = 0
        self._proven = -1  # generation of the last token the server accepted
        self._flight: asyncio.Task[BearerToken] | None = None
        self._next_reason = "cold"
        self._failures = 0
        self._retry_at = float("-inf")
        self._last_error: BaseException | None = None
        self._closed = False

    def held_secrets(self) -> tuple[str, ...]:
        """The API secrets this provider has held: the client masks them in every error."""
        return tuple(secret.get_secret_value() for secret in self._held)

    @property
    def api_key(self) -> str:
        """The API key whose secret this provider exchanges (public; the secret is never shown)."""
        return self._creds.api_key

    @property
    def current(self) -> BearerToken | None:
        """The cached token if it is still fresh, else ``None``; never exchanges."""
        return self._token

    # -- R1, R2, R6 ---------------------------------------------------------------------

    def ready(self) -> BearerToken | None:
        """The cached token when `get_token` would hand it over at once with nothing else to
        do (fresh, not yet due for a refresh), else ``None``: then await `get_token`. The
        client's hot path asks this first and spares a coroutine per call."""
        token = self._token
        if token is None:
            return None
        now = asyncio.get_running_loop().time()
        return token if now < token.refresh_at else None  # type: ignore[operator]

    async def get_token(self) -> BearerToken:
        """A fresh bearer token: the cached one, or the result of one shared exchange (single
        flight).

        Raises:
            TokenUnavailableError: the exchange failed or is backing off (``retry_after`` says
                when it tries again).
            ClientClosedError: the provider was closed.
        """
        token = self._token
        if token is not None:
            now = asyncio.get_running_loop().time()
            if now < token.refresh_at:  # type: ignore[operator]
                return token
            if now < token.expires_at:  # type: ignore[operator]
                if self._flight is None and now >= self._retry_at and not self._closed:
                    self._start_flight("early")
                return token
            self._token = None
            self._next_reason = "expiry"
        return await self._join()

    async def refresh(self) -> BearerToken:
        """Force a new token (joins a flight already under way)."""
        if self._flight is None:
            self._check_open()
            if self._token is not None:
                self._rejected = self._token.value  # the fleet cache must not hand it back
            self._start_flight("forced")
        return await self._join()

    def invalidate(self, token: BearerToken) -> None:
        """R10/R11: compare-and-clear."""
        if self._token is not token:
            return  # a newer token exists (or a flight is getting one): keep it
        if token.reason == "401" and self._proven < token.generation:
            return  # fetched after a 401 and never worked: the token is not the problem
        self._token = None
        self._rejected = token.value
        self._next_reason = "401"

    def confirm(self, token: BearerToken) -> None:
        """The server accepted ``token``."""
        if token.generation > self._proven:
            self._proven = token.generation

    async def rotate_credentials(
        self, *, api_key: str | None = None, api_secret: SecretLike
    ) -> None:
        """Swap the key pair atomically; the next exchange uses it. The current token (from
        the old secret) stays in use until it is due."""
        self._creds = _check_credentials(api_key or self._creds.api_key, api_secret)
        new = self._creds.api_secret
        if new not in self._held:
            self._held = (*self._held[-7:], new)  # a bot rotating for days: the last few
        self._failures = 0
        self._retry_at = float("-inf")
        self._last_error = None

    async def exchange(self) -> AccessToken:
        """An explicit exchange of the provider's own key pair, outside the single flight:
        the token it returns is the caller's, the provider's cached one is untouched."""
        access, _sent_at = await self.exchange_with(self._exchange)
        return access

    async def exchange_with(self, send: Callable[[str, Secret], Awaitable[_R]]) -> _R:
        """`exchange()` through the caller's own ``send(api_key, api_secret)`` (the client's
        raw-response exchange), so the key pair never leaves the provider otherwise."""
        self._check_open()
        creds = self._creds
        self.stats.record_exchange("explicit")
        if self._on_exchange is None:
            return await send(creds.api_key, creds.api_secret)
        started = asyncio.get_running_loop().time()
        try:
            result = await send(creds.api_key, creds.api_secret)
        except Exception as exc:
            self._report("explicit", started, None, exc)
            raise
        # The token is the caller's, not the provider's: its lifetime is not reported.
        self._report("explicit", started, None, None)
        return result

    def _report(
        self, reason: str, started: float, expires_in: float | None,
        error: BaseException | None, shared: bool = False,
    ) -> None:
        assert self._on_exchange is not None
        self._on_exchange(TokenExchangeEvent(
            reason=reason, ok=error is None,
            elapsed=asyncio.get_running_loop().time() - started, expires_in=expires_in,
            error=None if error is None else type(error).__name__, shared=shared,
        ))

    async def aclose(self) -> None:
        """Stop: cancel a running exchange (its waiters get `ClientClosedError`) and refuse new
        ones."""
        self._closed = True
        flight, self._flight = self._flight, None
        if flight is not None and not flight.done():
            flight.cancel()
            # The flight's own failure was handed to its waiters (R5); a KeyboardInterrupt
            # or SystemExit reaching us here is not ours to swallow.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flight

    # -- the flight (R3, R4, R5, R7, R8, R9) ----------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the token provider is closed (the client was closed)")

    async def _join(self) -> BearerToken:
        flight = self._flight
        if flight is None:
            self._check_open()
            now = asyncio.get_running_loop().time()
            if now < self._retry_at and self._last_error is not None:
                raise self._fail_fast(now)
            flight = self._start_flight(self._next_reason)
        try:
            return await asyncio.shield(flight)
        except asyncio.CancelledError:
            if flight.cancelled() and not _self_cancelling():
                raise ClientClosedError(
                    "the token exchange was cancelled: the client was closed"
                ) from None
            raise
        except YativoError as exc:
            raise _own_copy(exc) from exc
        except Exception as exc:
            raise TokenUnavailableError(
                f"token exchange failed: {exc.__class__.__name__}"
            ) from exc

    def _fail_fast(self, now: float) -> BaseException:
        """R9: during the backoff, a caller with no usable token fails at once."""
        cause = self._last_error
        assert cause is not None
        copy: YativoError
        if isinstance(cause, YativoError):
            copy = _own_copy(cause)
        else:
            copy = TokenUnavailableError(
                f"token exchange failed: {cause.__class__.__name__}",
                retry_after=self._retry_at - now,
            )
            copy.from_token_exchange = True
        copy.__cause__ = cause
        return copy

    def _start_flight(self, reason: str) -> asyncio.Task[BearerToken]:
        task = asyncio.get_running_loop().create_task(self._fly(reason, self._creds))
        self._flight = task
        task.add_done_callback(self._landed)
        return task

    def _landed(self, task: asyncio.Task[BearerToken]) -> None:
        if self._flight is task:
            self._flight = None
        if not task.cancelled():
            task.exception()  # R12: mark it retrieved even if every waiter left

    async def _fly(self, reason: str, creds: _Credentials) -> BearerToken:
        stats = self.stats
        stats.refreshes[reason] = stats.refreshes.get(reason, 0) + 1
        exchanges_before = stats.exchanges
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def exchange(api_key: str, api_secret: Secret) -> tuple[AccessToken, float]:
            stats.exchanges += 1
            return await self._exchange(api_key, api_secret)

        if self._cache is None:
            fetch = exchange(creds.api_key, creds.api_secret)
        else:
            fetch = self._cache.fetch(
                creds.api_key, creds.api_secret, exchange, reject=self._rejected
            )
        try:
            try:
                access, sent_at = await asyncio.wait_for(fetch, self._timeout)
            except asyncio.TimeoutError as exc:
                raise TokenUnavailableError(
                    f"token exchange timed out after {self._timeout} s"
                ) from exc
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            stats.failures += 1
            if creds is not self._creds:
                # The key pair was swapped (`rotate_credentials`) while this exchange ran on
                # the old one: its failure says nothing about the new pair, which is tried
                # at once for the calls waiting on this flight (the old secret was just
                # revoked, say), with no backoff armed and nothing cached against it.
                if self._on_exchange is not None:
                    self._report(reason, started, None, exc)
                return await self._fly(reason, self._creds)
            if isinstance(exc, RedisUnavailableError):
                # Redis (the fleet's token cache) was down; the token endpoint was never
                # asked and said nothing: no backoff, so a call right after Redis returns
                # exchanges at once instead of replaying this error for up to 30 s.
                if self._on_exchange is not None:
                    self._report(reason, started, None, exc)
                raise
            self._failures += 1
            ceiling = min(self._backoff_max, self._backoff_base * 2 ** (self._failures - 1))
            delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)  # jittered, never 0
            self._retry_at = loop.time() + delay
            self._last_error = exc
            if self._on_exchange is not None:
                self._report(reason, started, None, exc)
            if self._token is not None:
                _log.warning(
                    "background token refresh failed (%s); the current token is used "
                    "until it expires; next attempt in %.1f s",
                    exc.__class__.__name__,
                    delay,
                )
            raise
        # A lifetime past a week (or one no float can hold: 400 digits) is capped: a claim
        # that a token never expires must not arm a timer the loop cannot hold.
        ttl = float(min(access.expires_in, MAX_TOKEN_TTL))
        if ttl <= 0:
            ttl = 1.0
        margin = min(self._skew, ttl / 2)  # R8
        self._generation += 1
        token = BearerToken(
            access.access_token,
            expires_at=sent_at + ttl - margin,  # R7: from when it was sent
            refresh_at=sent_at + min(ttl * self._ratio, ttl - margin),
            generation=self._generation,
            reason=reason,
        )
        self._token = token
        shared = self._cache is not None and stats.exchanges == exchanges_before
        if shared:
            stats.shared += 1
        if self._on_exchange is not None:
            self._report(reason, started, ttl, None, shared)
        self._failures = 0
        self._retry_at = float("-inf")
        self._last_error = None
        self._next_reason = "expiry"
        _log.debug("token exchanged (reason %s, lifetime %.0f s)", reason, ttl)
        return token


def _own_copy(exc: YativoError) -> YativoError:
    copy = exc._clone()
    copy.from_token_exchange = True
    return copy


def _self_cancelling() -> bool:
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


def _check_credentials(api_key: str, api_secret: SecretLike) -> _Credentials:
    if not isinstance(api_key, str) or not api_key.strip():
        raise ValueError("api_key must be a non-empty string")
    secret = to_secret(api_secret, "api_secret")
    if not secret.get_secret_value().strip():
        raise ValueError("api_secret must not be empty or blank")
    return _Credentials(api_key, secret)


# --------------------------------------------------------------------------------------
# 2FA

CodeSource = Callable[[], "str | Awaitable[str]"]


class TwoFactor:
    """Where 2FA codes come from: a base32 TOTP secret (codes made by pyotp) or a callable
    (sync or async) returning the current code."""

    def __init__(self, source: SecretLike | CodeSource) -> None:
        self._totp: pyotp.TOTP | None = None
        self._callable: CodeSource | None = None
        if isinstance(source, (str, Secret)):
            secret = to_secret(source, "two_factor").get_secret_value().replace(" ", "").upper()
            try:
                pyotp.TOTP(secret).now()
            except Exception as exc:
                # pyotp's own reason ("Secrets must be at least 112 bits after decoding",
                # "Non-base32 digit found" ...), with the secret masked should it ever echo it.
                reason = mask_secrets(str(exc), (secret,)) or type(exc).__name__
                raise ValueError(
                    f"two_factor is not a TOTP secret pyotp accepts: {reason}. Give the "
                    "base32 secret your authenticator app was set up with, or a callable "
                    "returning the current code"
                ) from None
            self._totp = pyotp.TOTP(secret)
        elif callable(source):
            self._callable = source
        else:
            raise TypeError(
                "two_factor must be a base32 TOTP secret (str or Secret) or a callable, "
                f"not {type(source).__name__}"
            )

    @property
    def secret(self) -> str | None:
        """The TOTP secret (``None`` for a callable): masked in every error of the client."""
        return self._totp.secret if self._totp is not None else None

    @property
    def renewable(self) -> bool:
        """Codes come from a TOTP secret, so a fresh one can be made for every attempt
        (a callable may be a person at a prompt: it is asked once per call)."""
        return self._totp is not None

    async def code(self) -> str:
        """The 2FA code to send now (made fresh from a TOTP secret, or asked of the callable).

        Raises:
            ValueError: the source gave something that is not a 6-8 digit code.
        """
        if self._totp is not None:
            return str(self._totp.now())
        assert self._callable is not None
        result = self._callable()
        if inspect.isawaitable(result):
            result = await result
        return check_code(result)

    def __repr__(self) -> str:
        return "TwoFactor(totp)" if self._totp is not None else "TwoFactor(callable)"


def check_code(code: object) -> str:
    if isinstance(code, Secret):
        code = code.get_secret_value()
    if isinstance(code, int) and not isinstance(code, bool):
        code = f"{code:06d}"
    if not isinstance(code, str):
        raise TypeError(f"a 2FA code must be a str, not {type(code).__name__}")
    code = code.strip()
    # ASCII digits only: str.isdigit() also takes "١٢٣٤٥٦" and "¹²³⁴⁵⁶", which no server
    # reads as a code (and httpx cannot even put in a header).
    if not (code.isascii() and code.isdigit() and 6 <= len(code) <= 8):
        raise ValueError("a 2FA code must be 6 to 8 digits (0-9)")
    return code
