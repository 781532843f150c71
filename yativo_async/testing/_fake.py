"""`FakeYativo`: the documented server, stricter than the real one is likely to be.

Rules of this module:

1. It answers with hand-written JSON in the shapes of the two doc pages, never with the SDK's
   models or converter, so a bug on both sides cannot cancel out. ``generate`` answers with
   the doc-000 envelope (``key_name``/``scopes`` names), ``create`` with doc 002's flat shape.
2. One core, two doors: ``handle()`` is plain async code over (method, path, headers, body);
   the aiohttp app (a loopback port) and ``transport()`` (no socket) both call it.
3. Its clock is the running loop's: windows, token lifetimes and key expiry all read
   ``loop.time()``, so tests can run days in virtual time.
4. Rate limits are exact sliding logs per identity (each API key; the user token is one):
   a request is admitted iff every window holds fewer than N admissions in the last T s.
   Refused requests do not count. Token exchanges count against the key they name.
5. Faults are drawn from one seeded RNG: a run with the same seed and the same requests
   sees the same faults.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from random import Random
from typing import Any, Final

import attrs
import pyotp
from aiohttp import web

from .._config import DEFAULT_RATE_LIMITS, RateLimit
from .._errors import APIConnectionError, APITimeoutError
from .._transport import Request, Response, head_of, response_cap, too_large

__all__ = ["FakeKey", "FakeYativo", "Faults", "JournalEntry"]

COARSE: Final = frozenset({"read", "write", "transactions", "webhooks"})
SCOPED: Final = frozenset(
    {
        "transactions:read",
        "transactions:write",
        "accounts:read",
        "accounts:write",
        "webhooks:manage",
        "analytics:read",
    }
)
ROUTES: Final = ("generate", "create", "list", "token", "get", "revoke", "rotate", "permissions")
_TWO_FACTOR_ROUTES: Final = frozenset({"create", "revoke", "rotate", "permissions"})
_MASKED: Final = frozenset({"authorization", "x-2fa-token", "cookie"})


@attrs.frozen(kw_only=True)
class Faults:
    """Faults to inject; shares are probabilities in [0, 1], drawn from the fake's seeded RNG.

    Args:
        latency: seconds added before answering.
        jitter: up to this many seconds more, uniformly drawn.
        error_rate: share answered with one of ``error_statuses`` (before auth and limits).
        error_statuses: statuses used by ``error_rate``.
        retry_after_rate: share answered ``503`` with ``Retry-After: retry_after``.
        drop_rate: share whose connection is dropped before any response.
        slow_body: seconds over which the body is dribbled out.
        malformed_rate: share whose (successful) body is cut-off JSON.
        html_rate: share answered ``502`` with an HTML page, as a proxy would.
        extra_field: add an unknown field to every JSON object answer.
    """

    latency: float = 0.0
    jitter: float = 0.0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    retry_after_rate: float = 0.0
    retry_after: float = 1.0
    drop_rate: float = 0.0
    slow_body: float = 0.0
    malformed_rate: float = 0.0
    html_rate: float = 0.0
    extra_field: bool = False


_NO_FAULTS: Final = Faults()


@attrs.frozen(kw_only=True)
class JournalEntry:
    """One request as the fake saw it (secret headers masked, body not kept)."""

    time: float
    method: str
    path: str
    route: str | None
    headers: Mapping[str, str]
    identity: str | None = None
    status: int = 0


@attrs.define(kw_only=True)
class FakeKey:
    """A key in the fake's state."""

    id: str
    name: str
    api_key: str
    api_secret: str = attrs.field(repr=False)
    permissions: list[str]
    kind: str  # "create" (doc 002) or "generate" (doc 000)
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    status: str = "active"


@attrs.define
class _Token:
    key_id: str | None  # None: the user's token
    expires_at: float


class _Drop(Exception):
    """Drop the connection without an answer."""


class _Answer:
    __slots__ = ("body", "headers", "slow", "status")

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body  # JSON-able, or bytes as is
        self.headers = headers or {}
        self.slow = 0.0


def _iso(dt: datetime | None) -> str | None:
    """``dt`` as the server writes it: UTC, ``Z`` (an aware time is converted, not relabelled;
    a naive one is taken as UTC)."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Windows:
    """Exact sliding logs of admitted requests for one identity."""

    __slots__ = ("logs", "rates")

    def __init__(self, rates: Sequence[RateLimit]) -> None:
        self.rates = rates
        self.logs: list[deque[float]] = [deque() for _ in rates]

    def check(self, now: float) -> tuple[bool, float, int, int, float]:
        """(admitted, retry_after, limit, remaining, reset) for the tightest window.
        Admits (records) the request when every window has room."""
        blocked_for = 0.0
        for rate, log in zip(self.rates, self.logs, strict=True):
            while log and log[0] <= now - rate.period:
                log.popleft()
            if len(log) >= rate.limit:
                blocked_for = max(blocked_for, log[len(log) - rate.limit] + rate.period - now)
        admitted = blocked_for <= 0
        if admitted:
            for log in self.logs:
                log.append(now)
        tightest = None
        for rate, log in zip(self.rates, self.logs, strict=True):
            remaining = max(0, rate.limit - len(log))
            reset = (log[0] + rate.period - now) if log else 0.0
            if tightest is None or remaining < tightest[1]:
                tightest = (rate.limit, remaining, reset)
        assert tightest is not None
        return admitted, blocked_for, tightest[0], tightest[1], tightest[2]


class FakeYativo:
    """A fake Yativo API for tests and demos.

    ``async with FakeYativo() as fake:`` serves on a loopback port (``fake.base_url``);
    ``fake.transport()`` serves the same state with no socket. ``fake.access_token`` is a
    user's bearer token, ``fake.totp_secret`` the account's 2FA secret.

    Args:
        rate_limits: the windows per identity (default 60/min, 3000/h, 50000/day);
            ``[]`` for none.
        token_ttl: lifetime of exchanged tokens, seconds.
        seed: seeds faults and generated ids.
        faults: global faults (see `set_faults` for per-route ones).
    """

    def __init__(
        self,
        *,
        rate_limits: Sequence[RateLimit] = DEFAULT_RATE_LIMITS,
        token_ttl: int = 3600,
        seed: int = 0,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        totp_secret: str | None = None,
        access_token: str | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("FakeYativo serves on loopback only")
        self.rate_limits = tuple(rate_limits)
        self.token_ttl = token_ttl
        self._rng = Random(seed)
        self._ids = Random(seed + 1)
        self.totp_secret = totp_secret or pyotp.random_base32()
        self._totp = pyotp.TOTP(self.totp_secret)
        self.access_token = access_token or "yat_user_" + self._token_hex(24)
        self._host = host
        self._port = port
        self.faults = faults or _NO_FAULTS
        self.route_faults: dict[str, Faults] = {}
        self.keys: dict[str, FakeKey] = {}
        self._tokens: dict[str, _Token] = {}
        self._windows: dict[str, _Windows] = {}
        self.journal: list[JournalEntry] = []
        self.counters: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._epoch0 = time.time()
        self._loop0: float | None = None
        self.journal_limit = 100_000

    # -- running ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api`` once started (``async with``); the in-process
        transport answers on any base URL ending in ``/api``."""
        if self._url is None:
            return "http://fake-yativo.invalid/api"
        return self._url

    async def start(self) -> FakeYativo:
        """Serve on a loopback port (``base_url`` then names it). Idempotent."""
        if self._runner is not None:
            return self
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._aiohttp_handler)
        # A stop drops requests still in flight (as a server going down does) instead of
        # waiting up to aiohttp's default 60 s for a slow (``latency``) handler.
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:  # the port is taken: let go of the runner set up for it
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        host = f"[{host}]" if ":" in host else host
        self._url = f"http://{host}:{port}/api"
        return self

    async def stop(self) -> None:
        """Stop serving; requests still in flight are dropped after 0.1 s. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeYativo:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def transport(self) -> FakeTransport:
        """A transport for ``YativoClient(transport=...)`` that reaches this fake with no
        socket (and so runs in virtual time)."""
        return FakeTransport(self)

    # -- helpers for tests --------------------------------------------------------------

    def totp_now(self) -> str:
        """The account's current 2FA code."""
        return str(self._totp.now())

    def set_faults(self, route: str | None = None, **fields: Any) -> None:
        """Switch faults on, globally (``route=None``) or for one route (one of ``ROUTES``).
        Fields not given keep their current value."""
        if route is None:
            self.faults = attrs.evolve(self.faults, **fields)
        else:
            if route not in ROUTES:
                raise ValueError(f"unknown route {route!r}; one of {', '.join(ROUTES)}")
            self.route_faults[route] = attrs.evolve(
                self.route_faults.get(route, _NO_FAULTS), **fields
            )

    def clear_faults(self) -> None:
        """Remove every injected fault (global and per route)."""
        self.faults = _NO_FAULTS
        self.route_faults.clear()

    def add_key(
        self,
        name: str = "test key",
        permissions: Iterable[str] = ("read",),
        *,
        kind: str = "create",
        expires_at: datetime | None = None,
    ) -> FakeKey:
        """Put a key in the state directly (no request, no counters)."""
        now = self._wall()
        key = FakeKey(
            id="key_" + self._token_hex(10),
            name=name,
            api_key=("yvk_live_" if kind == "create" else "yativo_") + self._token_hex(24),
            api_secret="yvs_live_" + self._token_hex(32),
            permissions=list(permissions),
            kind=kind,
            created_at=now,
            expires_at=expires_at,
        )
        self.keys[key.id] = key
        return key

    def count(self, what: str) -> int:
        """A counter: ``"token_exchanges"``, ``"keys_created"``, ``"status:429"``,
        ``"route:list"``, ``"requests"``."""
        return self.counters[what]

    @property
    def token_exchanges(self) -> int:
        """Successful token exchanges served so far (``counters["token_exchanges"]`` counts
        every exchange request, ``counters["token_exchange_failures"]`` the refused ones)."""
        return self.counters["token_exchanges"] - self.counters["token_exchange_failures"]

    @property
    def keys_created(self) -> int:
        """Keys created (create, generate and rotate) so far."""
        return self.counters["keys_created"]

    def _token_hex(self, n: int) -> str:
        return "".join(self._ids.choice("0123456789abcdef") for _ in range(n))

    def _now(self) -> float:
        loop_now = asyncio.get_running_loop().time()
        if self._loop0 is None:
            self._loop0 = loop_now
        return loop_now

    def _wall(self) -> datetime:
        """Wall-clock time that moves with the loop's clock (virtual time included)."""
        try:
            offset = self._now() - (self._loop0 or 0.0)
        except RuntimeError:
            offset = 0.0
        return datetime.fromtimestamp(self._epoch0 + offset, tz=timezone.utc).replace(
            microsecond=0
        )

    # -- the core -----------------------------------------------------------------------

    async def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes, float]:
        """Answer one request: (status, headers, body, seconds to dribble the body).

        Raises `_Drop` to drop the connection. ``headers`` may use any case.
        """
        now = self._now()
        lower = {k.lower(): v for k, v in headers.items()}
        route, key_id = _route(method, path)
        entry_headers = {k: ("***" if k in _MASKED else v) for k, v in lower.items()}
        self.counters["requests"] += 1
        if route is not None:
            self.counters["route:" + route] += 1
        faults = self.route_faults.get(route or "", self.faults) if route else self.faults
        answer = await self._answer(now, method, route, key_id, lower, body, faults)
        status = answer.status
        self.counters[f"status:{status}"] += 1
        if len(self.journal) < self.journal_limit:
            self.journal.append(
                JournalEntry(
                    time=now,
                    method=method,
                    path=path,
                    route=route,
                    headers=entry_headers,
                    identity=answer.headers.pop("x-fake-identity", None),
                    status=status,
                )
            )
        else:
            answer.headers.pop("x-fake-identity", None)
        raw = self._render(answer, faults)
        out_headers = {"Content-Type": "application/json", **answer.headers}
        if raw[:1] == b"<":
            out_headers["Content-Type"] = "text/html; charset=utf-8"
        out_headers["X-Request-Id"] = "req_" + self._token_hex(12)
        return status, out_headers, raw, answer.slow

    def _render(self, answer: _Answer, faults: Faults) -> bytes:
        body = answer.body
        if isinstance(body, bytes):
            return body
        if faults.extra_field and isinstance(body, dict):
            body = {**body, "x_unexpected_field": {"nested": [1, 2, 3]}}
            if isinstance(body.get("data"), dict):
                body["data"] = {**body["data"], "x_unexpected_field": True}
        raw = json.dumps(body).encode()
        if answer.status < 400 and faults.malformed_rate and (
            self._rng.random() < faults.malformed_rate
        ):
            return raw[: max(1, len(raw) // 2)]
        return raw

    async def _answer(
        self,
        now: float,
        method: str,
        route: str | None,
        key_id: str | None,
        headers: Mapping[str, str],
        body: bytes,
        faults: Faults,
    ) -> _Answer:
        rng = self._rng
        if faults.drop_rate and rng.random() < faults.drop_rate:
            self.counters["dropped"] += 1
            raise _Drop
        delay = faults.latency + (rng.uniform(0, faults.jitter) if faults.jitter else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
            now = self._now()
        if faults.html_rate and rng.random() < faults.html_rate:
            return _Answer(502, _HTML_502)
        if faults.retry_after_rate and rng.random() < faults.retry_after_rate:
            return _Answer(
                503,
                {"success": False, "message": "Service temporarily unavailable"},
                {"Retry-After": _seconds(faults.retry_after)},
            )
        if faults.error_rate and rng.random() < faults.error_rate:
            status = rng.choice(faults.error_statuses)
            return _Answer(status, {"success": False, "message": f"upstream error {status}"})
        if route is None:
            return _Answer(404, {"success": False, "message": f"no route for {method}"})

        # Identity: the key named in a token exchange, else the bearer token's owner.
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                return _Answer(400, {"success": False, "message": "body is not valid JSON"})
        if route == "token":
            api_key = payload.get("api_key") if isinstance(payload, dict) else None
            if not isinstance(api_key, str):
                return _Answer(422, {"success": False, "message": "api_key is required"})
            identity = "key:" + api_key
        else:
            owner = self._bearer_owner(headers.get("authorization", ""), now)
            if owner is None:
                self.counters["unauthorized"] += 1
                return _Answer(
                    401,
                    {"success": False, "message": "Unauthenticated: invalid or expired token"},
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            identity = owner

        limit_headers: dict[str, str] = {"x-fake-identity": identity}
        if self.rate_limits:
            windows = self._windows.get(identity)
            if windows is None:
                windows = self._windows[identity] = _Windows(self.rate_limits)
            admitted, blocked_for, limit, remaining, reset = windows.check(now)
            limit_headers.update(
                {
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": _seconds(reset),
                }
            )
            if not admitted:
                limit_headers["Retry-After"] = _seconds(blocked_for)
                return _Answer(
                    429, {"success": False, "message": "Too many requests"}, limit_headers
                )

        if route in _TWO_FACTOR_ROUTES:
            code = headers.get("x-2fa-token")
            if code is None and route == "create" and isinstance(payload, dict):
                code = payload.get("two_factor_token")
            if not code:
                answer = _Answer(
                    403, {"success": False, "message": "2FA code required (X-2FA-Token)"}
                )
                answer.headers.update(limit_headers)
                return answer
            if not isinstance(code, str) or not self._totp.verify(code, valid_window=1):
                answer = _Answer(403, {"success": False, "message": "Invalid 2FA code"})
                answer.headers.update(limit_headers)
                return answer

        answer = self._dispatch(route, key_id, payload, identity, now)
        answer.headers.update(limit_headers)
        answer.slow = faults.slow_body
        return answer

    def _bearer_owner(self, authorization: str, now: float) -> str | None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value:
            return None
        if secrets.compare_digest(_raw(value), _raw(self.access_token)):
            return "user"
        token = self._tokens.get(value)
        if token is None:
            return None
        if now >= token.expires_at:
            del self._tokens[value]
            return None
        key = self.keys.get(token.key_id or "")
        if key is None or key.status != "active" or self._expired(key):
            return None
        key.last_used_at = self._wall()
        return "key:" + key.api_key

    def _expired(self, key: FakeKey) -> bool:
        return key.expires_at is not None and self._wall() >= key.expires_at

    def _dispatch(
        self, route: str, key_id: str | None, payload: Any, identity: str, now: float
    ) -> _Answer:
        if route == "token":
            return self._exchange(payload, now)
        if route == "list":
            return _Answer(200, {"keys": [self._key_json(k) for k in self.keys.values()]})
        if route in ("generate", "create"):
            return self._create(route, payload)
        key = self.keys.get(key_id or "")
        if key is None:
            return _Answer(404, {"success": False, "message": f"API key {key_id} not found"})
        if route == "get":
            return _Answer(200, self._key_json(key))
        if route == "revoke":
            key.status = "revoked"
            for value in [t for t, tok in self._tokens.items() if tok.key_id == key.id]:
                del self._tokens[value]
            return _Answer(200, {"success": True, "message": "API key revoked"})
        if key.status != "active":
            return _Answer(409, {"success": False, "message": "API key is revoked"})
        if route == "rotate":
            key.api_secret = "yvs_live_" + self._token_hex(32)
            return _Answer(
                200,
                {
                    "id": key.id,
                    "api_key": key.api_key,
                    "api_secret": key.api_secret,
                    "rotated_at": _iso(self._wall()),
                },
            )
        # permissions
        if not isinstance(payload, dict):
            return _Answer(422, {"success": False, "message": "permissions is required"})
        error = _check_permissions(payload.get("permissions"), COARSE | SCOPED, required=True)
        if error:
            return _Answer(422, {"success": False, "message": error})
        key.permissions = list(payload["permissions"])
        return _Answer(
            200,
            {"success": True, "message": "Permissions updated", "data": self._key_json(key)},
        )

    def _exchange(self, payload: Mapping[str, Any], now: float) -> _Answer:
        self.counters["token_exchanges"] += 1
        api_key, api_secret = payload.get("api_key"), payload.get("api_secret")
        key = next((k for k in self.keys.values() if k.api_key == api_key), None)
        if (
            key is None
            or not isinstance(api_secret, str)
            or not secrets.compare_digest(_raw(api_secret), _raw(key.api_secret))
            or key.status != "active"
            or self._expired(key)
        ):
            self.counters["token_exchange_failures"] += 1
            return _Answer(401, {"success": False, "message": "Invalid API credentials"})
        value = "eyJ" + self._token_hex(40)
        self._tokens[value] = _Token(key.id, now + self.token_ttl)
        return _Answer(
            200, {"access_token": value, "expires_in": self.token_ttl, "token_type": "Bearer"}
        )

    def _create(self, route: str, payload: Any) -> _Answer:
        if not isinstance(payload, dict):
            return _Answer(422, {"success": False, "message": "a JSON object body is required"})
        name = payload.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            return _Answer(
                422, {"success": False, "message": "name is required (1-100 characters)"}
            )
        vocabulary = COARSE if route == "create" else SCOPED
        permissions = payload.get("permissions")
        error = _check_permissions(permissions, vocabulary, required=False)
        if error:
            return _Answer(422, {"success": False, "message": error})
        expires_at: datetime | None = None
        if route == "create" and payload.get("expires_in_days") is not None:
            days = payload["expires_in_days"]
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
                return _Answer(
                    422, {"success": False, "message": "expires_in_days must be 1-3650"}
                )
            expires_at = self._wall() + timedelta(days=days)
        if route == "generate" and payload.get("expires_at") is not None:
            try:
                text = str(payload["expires_at"]).replace("Z", "+00:00")
                expires_at = datetime.fromisoformat(text)
                if expires_at.tzinfo is None:
                    expires_at = expires_at.replace(tzinfo=timezone.utc)
            except ValueError:
                return _Answer(
                    422, {"success": False, "message": "expires_at must be ISO 8601"}
                )
            if expires_at <= self._wall():
                return _Answer(
                    422, {"success": False, "message": "expires_at must be in the future"}
                )
        if permissions is None:
            permissions = sorted(vocabulary) if route == "generate" else ["read"]
        key = self.add_key(name, permissions, kind=route, expires_at=expires_at)
        self.counters["keys_created"] += 1
        if route == "create":
            return _Answer(
                201,
                {
                    "id": key.id,
                    "name": key.name,
                    "api_key": key.api_key,
                    "api_secret": key.api_secret,
                    "permissions": list(key.permissions),
                    "expires_at": _iso(key.expires_at),
                    "created_at": _iso(key.created_at),
                },
            )
        minute = next((r.limit for r in self.rate_limits if r.period == 60), 60)
        hour = next((r.limit for r in self.rate_limits if r.period == 3600), 3000)
        day = next((r.limit for r in self.rate_limits if r.period == 86400), 50000)
        return _Answer(
            201,
            {
                "success": True,
                "message": "API key generated successfully",
                "warning": "Save the API Secret securely. It will not be shown again!",
                "data": {
                    "key_id": key.id,
                    "api_key": key.api_key,
                    "api_secret": key.api_secret,
                    "key_name": key.name,
                    "scopes": list(key.permissions),
                    "expires_at": _iso(key.expires_at),
                    "created_at": _iso(key.created_at),
                    "rate_limit": {
                        "requests_per_minute": minute,
                        "requests_per_hour": hour,
                        "requests_per_day": day,
                    },
                    "token_expiry_minutes": max(1, self.token_ttl // 60),
                },
            },
        )

    def _key_json(self, key: FakeKey) -> dict[str, Any]:
        status = "revoked" if key.status == "revoked" else "active"
        if status == "active" and self._expired(key):
            status = "revoked"  # the docs: an expired key is automatically revoked
        return {
            "id": key.id,
            "name": key.name,
            "permissions": list(key.permissions),
            "last_used_at": _iso(key.last_used_at),
            "expires_at": _iso(key.expires_at),
            "created_at": _iso(key.created_at),
            "status": status,
        }

    # -- the aiohttp door ---------------------------------------------------------------

    async def _aiohttp_handler(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            status, headers, raw, slow = await self.handle(
                request.method, request.path, request.headers, body
            )
        except _Drop:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if slow <= 0:
            return web.Response(status=status, headers=headers, body=raw)
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(raw)
        await response.prepare(request)
        chunks = 4
        step = max(1, math.ceil(len(raw) / chunks))
        for i in range(0, len(raw), step):
            await response.write(raw[i : i + step])
            await asyncio.sleep(slow / chunks)
        await response.write_eof()
        return response


class FakeTransport:
    """Reaches a `FakeYativo` with no socket."""

    def __init__(self, fake: FakeYativo) -> None:
        self._fake = fake

    async def send(self, request: Request) -> Response:
        """Answer ``request`` in process, as the fake's HTTP server would (no socket).

        Raises:
            APIConnectionError: a ``drop_rate`` fault dropped the request.
            ResponseTooLargeError: the body passed ``request.max_response_bytes``.
        """
        rest = request.url.split("://", 1)[-1]
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        path = path.split("?", 1)[0]
        try:
            if request.timeout is not None:
                status, headers, raw, slow = await asyncio.wait_for(
                    self._fake.handle(request.method, path, request.headers, request.body or b""),
                    request.timeout,
                )
            else:
                status, headers, raw, slow = await self._fake.handle(
                    request.method, path, request.headers, request.body or b""
                )
        except _Drop:
            raise APIConnectionError(
                f"{request.method} {path}: server closed the connection without answering"
            ) from None
        except asyncio.TimeoutError:
            raise APITimeoutError(f"{request.method} {path} timed out") from None
        if slow > 0:
            await asyncio.sleep(slow)
        cap = response_cap(request)
        if len(raw) > cap:  # as a real transport would stop reading there
            raise too_large(request, cap, status, head_of([raw]))
        return Response(
            status=status, headers={k.lower(): v for k, v in headers.items()}, body=raw
        )

    async def aclose(self) -> None:
        """Nothing to close."""
        return None


def _route(method: str, path: str) -> tuple[str | None, str | None]:
    if not path.startswith("/api/"):
        return None, None
    parts = [p for p in path[5:].split("/") if p]
    if parts == ["auth", "token"] and method == "POST":
        return "token", None
    if not parts or parts[0] != "apikey":
        return None, None
    if len(parts) == 2:
        name = parts[1]
        if method == "POST" and name in ("generate", "create", "token"):
            return name, None
        if method == "GET" and name == "list":
            return "list", None
        if method == "GET":
            return "get", name
        return None, None
    if len(parts) == 3:
        if method == "POST" and parts[2] in ("revoke", "rotate"):
            return parts[2], parts[1]
        if method == "PUT" and parts[2] == "permissions":
            return "permissions", parts[1]
    return None, None


def _check_permissions(value: Any, vocabulary: frozenset[str], *, required: bool) -> str | None:
    if value is None:
        return "permissions is required" if required else None
    if not isinstance(value, list) or not value:
        return "permissions must be a non-empty list"
    unknown = [p for p in value if not isinstance(p, str) or p not in vocabulary]
    if unknown:
        return f"unknown permission(s): {', '.join(map(str, unknown))}; allowed: " + ", ".join(
            sorted(vocabulary)
        )
    return None


def _seconds(value: float) -> str:
    return str(max(0, math.ceil(value - 1e-9)))


_HTML_502: Final = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>nginx</center></body></html>"
)


def _raw(value: str) -> bytes:
    """``value`` as bytes for `secrets.compare_digest`, which refuses non-ASCII ``str``
    (a token "tök€n" must be a 401, not a crash); lone surrogates from a JSON body or a
    header read with ``surrogateescape`` encode too."""
    return value.encode("utf-8", "surrogatepass")
