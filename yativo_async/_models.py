"""Plain frozen models with Python names only. The wire (names, envelopes, dates) is the
converter's business (`_converter.py`); nothing here does I/O or validation."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal, NewType, cast

import attrs

from ._config import RateLimit
from ._secret import Secret

if TYPE_CHECKING:
    from ._converter import JSONValue, Model

__all__ = [
    "COARSE_PERMISSIONS",
    "SCOPED_PERMISSIONS",
    "AccessToken",
    "AnyPermission",
    "ApiKey",
    "CreatedApiKey",
    "CustomPermission",
    "KeyRateLimit",
    "Permission",
    "PermissionName",
    "RotatedApiKey",
    "Scope",
    "ScopeName",
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


#: the coarse permissions as string literals: ``permissions=["read"]`` type-checks and
#: ``["raed"]`` is a mypy error
PermissionName = Literal["read", "write", "transactions", "webhooks"]
#: the scoped permissions as string literals
ScopeName = Literal[
    "transactions:read",
    "transactions:write",
    "accounts:read",
    "accounts:write",
    "webhooks:manage",
    "analytics:read",
]
#: a permission this SDK does not know yet (the server may add scopes):
#: ``CustomPermission("reports:read")`` passes mypy; at run time any non-empty string is sent
#: as is, whatever its type
CustomPermission = NewType("CustomPermission", str)
#: what ``update_permissions`` takes: coarse or scoped (a key of either kind)
AnyPermission = Permission | PermissionName | Scope | ScopeName | CustomPermission

COARSE_PERMISSIONS: Final = frozenset(p.value for p in Permission)
SCOPED_PERMISSIONS: Final = frozenset(s.value for s in Scope)


class _Serialisable:
    """``to_dict()`` / ``to_json()`` for every model (through the one converter)."""

    __slots__ = ()

    def to_dict(self, *, reveal_secrets: bool = False) -> dict[str, JSONValue]:
        """Plain JSON-able data (Python names, ISO 8601 timestamps). Secrets show as
        ``"**********"`` unless ``reveal_secrets=True``. What a FastAPI route returns."""
        from ._converter import to_jsonable  # the converter imports this module

        return to_jsonable(cast("Model", self), reveal_secrets=reveal_secrets)

    def to_json(self, *, reveal_secrets: bool = False, indent: int | None = None) -> str:
        """``to_dict()`` as a JSON string."""
        import json

        return json.dumps(self.to_dict(reveal_secrets=reveal_secrets), indent=indent,
                          ensure_ascii=False)


def _request_id() -> str | None:
    # Declared on each model (not the mixin) so it stays the last keyword-only field.
    return attrs.field(default=None, eq=False, repr=False)  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True, weakref_slot=False)
class KeyRateLimit(_Serialisable):
    """The ``rate_limit`` block the server may send with a generated key."""

    requests_per_minute: int | None = None
    requests_per_hour: int | None = None
    requests_per_day: int | None = None

    def to_rate_limits(self) -> list[RateLimit]:
        """As `RateLimit` windows, for ``YativoClient(rate_limits=...)``; a count that is
        absent or not a positive number says nothing and gives no window."""
        out = []
        for count, period in (
            (self.requests_per_minute, 60.0),
            (self.requests_per_hour, 3600.0),
            (self.requests_per_day, 86_400.0),
        ):
            if count is not None and count > 0:
                out.append(RateLimit(count, period))
        return out


@attrs.frozen(kw_only=True, weakref_slot=False)
class ApiKey(_Serialisable):
    """A key as listed: never carries the secret. Unknown permission strings are kept."""

    id: str
    name: str
    permissions: tuple[str, ...] = ()
    status: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    api_key: str | None = None
    #: the server's request id (``X-Request-Id``) of the response this came from
    request_id: str | None = _request_id()

    @property
    def is_active(self) -> bool:
        """Whether the key's status is ``active`` (not revoked, not expired by the server)."""
        return self.status != "revoked"


@attrs.frozen(kw_only=True, weakref_slot=False)
class CreatedApiKey(_Serialisable):
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
    #: the server's request id (``X-Request-Id``) of the response this came from
    request_id: str | None = _request_id()


@attrs.frozen(kw_only=True, weakref_slot=False)
class RotatedApiKey(_Serialisable):
    """The answer of a rotation: the new secret (the old one stopped working)."""

    id: str | None = None
    api_key: str | None = None
    api_secret: Secret
    rotated_at: datetime | None = None
    #: the server's request id (``X-Request-Id``) of the response this came from
    request_id: str | None = _request_id()


@attrs.frozen(kw_only=True, weakref_slot=False)
class AccessToken(_Serialisable):
    """A bearer token from ``/apikey/token`` (or ``/auth/token``)."""

    access_token: Secret
    expires_in: int = 3600
    token_type: str = "Bearer"
    #: the server's request id (``X-Request-Id``) of the response this came from
    request_id: str | None = _request_id()
