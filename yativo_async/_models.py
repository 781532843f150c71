"""Plain frozen models with Python names only. The wire (names, envelopes, dates) is the
converter's business (`_converter.py`); nothing here does I/O or validation."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Final

import attrs

from ._config import RateLimit
from ._secret import Secret

__all__ = [
    "COARSE_PERMISSIONS",
    "SCOPED_PERMISSIONS",
    "AccessToken",
    "ApiKey",
    "CreatedApiKey",
    "KeyRateLimit",
    "Permission",
    "RotatedApiKey",
    "Scope",
]


class Permission(str, enum.Enum):
    """The coarse permissions of ``POST /apikey/create`` (doc 002)."""

    READ = "read"
    WRITE = "write"
    TRANSACTIONS = "transactions"
    WEBHOOKS = "webhooks"


class Scope(str, enum.Enum):
    """The scoped permissions of ``POST /apikey/generate`` (doc 000)."""

    TRANSACTIONS_READ = "transactions:read"
    TRANSACTIONS_WRITE = "transactions:write"
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_WRITE = "accounts:write"
    WEBHOOKS_MANAGE = "webhooks:manage"
    ANALYTICS_READ = "analytics:read"


COARSE_PERMISSIONS: Final = frozenset(p.value for p in Permission)
SCOPED_PERMISSIONS: Final = frozenset(s.value for s in Scope)


@attrs.frozen(kw_only=True)
class KeyRateLimit:
    """The ``rate_limit`` block the server may send with a generated key."""

    requests_per_minute: int | None = None
    requests_per_hour: int | None = None
    requests_per_day: int | None = None

    def to_rate_limits(self) -> list[RateLimit]:
        """As `RateLimit` windows, for ``YativoClient(rate_limits=...)``."""
        out = []
        for count, period in (
            (self.requests_per_minute, 60.0),
            (self.requests_per_hour, 3600.0),
            (self.requests_per_day, 86_400.0),
        ):
            if count is not None:
                out.append(RateLimit(count, period))
        return out


@attrs.frozen(kw_only=True)
class ApiKey:
    """A key as listed: never carries the secret. Unknown permission strings are kept."""

    id: str
    name: str
    permissions: tuple[str, ...] = ()
    status: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    api_key: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status != "revoked"


@attrs.frozen(kw_only=True)
class CreatedApiKey:
    """A new key with its secret, shown once by the server. ``id`` and ``created_at`` may be
    absent: the doc-000 example answer has neither."""

    id: str | None = None
    name: str | None = None
    api_key: str
    api_secret: Secret
    permissions: tuple[str, ...] = ()
    expires_at: datetime | None = None
    created_at: datetime | None = None
    rate_limit: KeyRateLimit | None = None
    token_expiry_minutes: int | None = None


@attrs.frozen(kw_only=True)
class RotatedApiKey:
    """The answer of a rotation: the new secret (the old one stopped working)."""

    id: str | None = None
    api_key: str | None = None
    api_secret: Secret
    rotated_at: datetime | None = None


@attrs.frozen(kw_only=True)
class AccessToken:
    """A bearer token from ``/apikey/token`` (or ``/auth/token``)."""

    access_token: Secret
    expires_in: int = 3600
    token_type: str = "Bearer"
