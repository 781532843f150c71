"""The endpoints: ``client.api_keys`` and ``client.auth``.

Rules of this module: each method (1) checks its arguments and raises ``ValueError`` /
``TypeError`` before anything is sent, (2) gets its 2FA code, (3) describes the call as a
frozen `Call` and hands it to the pipeline, (4) structures the body with the converter.
Wire names live in the converter and `_sansio`, sending in `_pipeline`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from ._auth import BearerToken, ExchangeTokenProvider, TwoFactor, check_code
from ._converter import decode, decode_key_list, parse_datetime
from ._errors import ResponseDecodeError
from ._models import AccessToken, ApiKey, CreatedApiKey, RotatedApiKey
from ._pipeline import Call, Outcome
from ._sansio import header_safe, key_path, mask_secrets
from ._secret import Secret, SecretLike, to_secret

if TYPE_CHECKING:
    from ._client import YativoClient

__all__ = ["ApiKeysResource", "AuthResource", "exchange_token"]


async def exchange_token(
    client: YativoClient, api_key: str, api_secret: Secret
) -> tuple[AccessToken, float]:
    """``POST {token_path}``: a key pair for a bearer token, and the loop time the request
    left (the token's lifetime counts from then). What the token provider calls."""
    secret = api_secret.get_secret_value()
    call = Call(
        name="token exchange",
        method="POST",
        path=client.token_path,
        body={"api_key": api_key, "api_secret": secret},
        auth=False,
        priority=True,
        secrets=(secret,),
    )
    outcome = await client._pipeline.run(call, client._options)
    response = outcome.response
    try:
        access = decode(response.body, AccessToken, status=response.status)
    except ResponseDecodeError as exc:
        raise ResponseDecodeError(
            mask_secrets(exc.message, call.secrets), status=exc.status,
            body=None if exc.body is None else mask_secrets(exc.body, call.secrets),
        ) from None
    token = access.access_token.get_secret_value()
    if not token or not header_safe(token):
        # A token with CR/LF/NUL would be cached and then break every call at send time.
        raise ResponseDecodeError(
            "the token endpoint returned an access_token that cannot be sent in a header "
            "(empty, or control characters)",
            status=response.status,
        )
    return access, outcome.sent_at


#: the same frozen value every time: building a 16-field Call costs ~2.5 µs a call
_LIST: Final = Call(name="list", method="GET", path="/apikey/list")


class ApiKeysResource:
    """``client.api_keys``: every key-management endpoint of both doc pages."""

    def __init__(self, client: YativoClient) -> None:
        self._client = client

    async def _run(self, call: Call) -> Outcome:
        client = self._client
        client._check_open()
        return await client._pipeline.run(call, client._options)

    async def _two_factor(self, given: str | None, operation: str) -> tuple[str, TwoFactor | None]:
        """The 2FA code for attempt 1 and, when it comes from a TOTP secret, the source of
        fresh codes for later attempts. A code given to the call, or from a callable (a
        person at a prompt, perhaps), is used for every attempt."""
        if given is not None:
            return check_code(given), None
        source = self._client._two_factor
        if source is None:
            raise ValueError(
                f"{operation} needs a 2FA code: pass two_factor_code=... or build the client "
                "with two_factor= (a TOTP secret or a callable)"
            )
        return await source.code(), (source if source.renewable else None)

    async def list(self) -> list[ApiKey]:
        """``GET /apikey/list``: every key on the account (no secrets)."""
        response = (await self._run(_LIST)).response
        return decode_key_list(response.body, status=response.status)

    async def get(self, key_id: str) -> ApiKey:
        """``GET /apikey/{id}``."""
        call = Call(name="get", method="GET", path=key_path(key_id), key_id=key_id)
        response = (await self._run(call)).response
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
            body["expires_in_days"] = _check_days(expires_in_days)
        code, renew = await self._two_factor(two_factor_code, "create")
        call = Call(name="create", method="POST", path="/apikey/create", body=body,
                    idempotent=False, code=code, code_in_body=True, renew_code=renew,
                    key_name=name)
        response = (await self._run(call)).response
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
        call = Call(name="generate", method="POST", path="/apikey/generate", body=body,
                    idempotent=False, code=code, key_name=name)
        response = (await self._run(call)).response
        return decode(response.body, CreatedApiKey, status=response.status)

    async def rotate(
        self, key_id: str, *, two_factor_code: str | None = None, adopt: bool | None = None
    ) -> RotatedApiKey:
        """``POST /apikey/{id}/rotate``: a new secret; the old one stops working.

        ``adopt``: swap the client's own credentials to the new secret (default: when the
        rotated key is the client's own key), so a bot rotates with no restart.
        """
        path = key_path(key_id, "/rotate")
        code, renew = await self._two_factor(two_factor_code, "rotate")
        call = Call(name="rotate", method="POST", path=path, idempotent=False, code=code,
                    renew_code=renew, key_id=key_id)
        response = (await self._run(call)).response
        rotated = decode(response.body, RotatedApiKey, status=response.status)
        tokens = self._client.token_provider
        if isinstance(tokens, ExchangeTokenProvider) and adopt is not False:
            own = rotated.api_key is not None and rotated.api_key == tokens.api_key
            if adopt or own:
                await tokens.rotate_credentials(
                    api_key=rotated.api_key or tokens.api_key, api_secret=rotated.api_secret
                )
        return rotated

    async def revoke(self, key_id: str, *, two_factor_code: str | None = None) -> None:
        """``POST /apikey/{id}/revoke``: permanent.

        Retried like a read: revoking twice does no harm. When an attempt's response was
        lost and the replay answers 404 or 409 (gone, already revoked), the first attempt
        did it: the call succeeds. A 2xx whose body reports a failure raises
        `APIStatusError`: a revoke that did not happen never looks done.
        """
        path = key_path(key_id, "/revoke")
        code, renew = await self._two_factor(two_factor_code, "revoke")
        await self._run(Call(name="revoke", method="POST", path=path, code=code,
                             renew_code=renew, key_id=key_id,
                             done_on_replay=frozenset({404, 409}), check_envelope=True))

    async def update_permissions(
        self,
        key_id: str,
        permissions: Sequence[str],
        *,
        two_factor_code: str | None = None,
    ) -> None:
        """``PUT /apikey/{id}/permissions``: replaces the whole set.

        Retried like a read: setting the same set twice ends in the same state, so a replay
        after a lost response is safe. A 2xx whose body reports a failure raises
        `APIStatusError`.
        """
        path = key_path(key_id, "/permissions")
        perms = _check_permissions(permissions)
        if not perms:
            raise ValueError("permissions must not be empty")
        code, renew = await self._two_factor(two_factor_code, "update_permissions")
        await self._run(Call(name="update_permissions", method="PUT", path=path,
                             body={"permissions": perms}, code=code, renew_code=renew,
                             key_id=key_id, check_envelope=True))


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
        client = self._client
        client._check_open()
        tokens = client.token_provider
        if api_key is None and api_secret is None:
            if not isinstance(tokens, ExchangeTokenProvider):
                raise ValueError("exchange_token needs api_key and api_secret")
            return await tokens.exchange()
        if api_key is None or api_secret is None:
            raise ValueError("api_key and api_secret go together: give both")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        secret = to_secret(api_secret, "api_secret")
        client.stats.tokens.record_exchange("explicit")
        access, _sent_at = await exchange_token(client, api_key, secret)
        return access

    async def token(self) -> BearerToken:
        """The `BearerToken` the client would send now (fetched if needed)."""
        tokens = self._client.token_provider
        if tokens is None:
            raise ValueError("this client has no credentials")
        return await tokens.get_token()


# --------------------------------------------------------------------------------------
# Argument checks: a clear error before anything is sent


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


def _check_days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError("expires_in_days must be an int")
    if days < 1:
        raise ValueError("expires_in_days must be >= 1")
    return days


def _check_expires_at(expires_at: object) -> str:
    if isinstance(expires_at, datetime):
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware (e.g. datetime.now(timezone.utc))")
        return expires_at.isoformat().replace("+00:00", "Z")
    if isinstance(expires_at, str):
        try:
            parse_datetime(expires_at)
        except (TypeError, ValueError):
            raise ValueError(f"expires_at is not an ISO 8601 timestamp: {expires_at!r}") from None
        return expires_at
    raise TypeError(
        f"expires_at must be a datetime or ISO 8601 str, not {type(expires_at).__name__}"
    )
