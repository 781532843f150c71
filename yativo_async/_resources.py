"""The endpoints: ``client.api_keys`` and ``client.auth``, each with a
``with_raw_response`` twin.

Rules of this module: each method (1) checks its arguments and raises ``ValueError`` /
``TypeError`` before anything is sent, (2) gets its 2FA code, (3) describes the call as a
frozen `Call` and hands it to the pipeline with this call's `Options` (the client's, a
``with_options()`` view's, plus ``timeout=`` / ``extra_headers=``), (4) structures the body
with the converter. Wire names live in the converter and `_sansio`, sending in `_pipeline`.

Every endpoint is written once, in the ``with_raw_response`` class, returning an
`APIResponse`; the plain method is that response's ``.parse()``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from . import _converter
from ._auth import BearerToken, ExchangeTokenProvider, TwoFactor, check_code
from ._converter import decode, decode_key_list, parse_datetime, tag
from ._errors import APIStatusError, ResponseDecodeError
from ._models import (
    AccessToken,
    AnyPermission,
    ApiKey,
    CreatedApiKey,
    CustomPermission,
    Permission,
    PermissionName,
    RotatedApiKey,
    Scope,
    ScopeName,
)
from ._pipeline import Call, Options, Outcome
from ._ratelimit import Lane
from ._response import APIResponse, call_failure
from ._sansio import header_safe, key_path, mask_secrets, request_id_from
from ._secret import Secret, SecretLike, to_secret

if TYPE_CHECKING:
    from ._client import YativoClient

_log = logging.getLogger("yativo_async")

__all__ = [
    "ApiKeysResource",
    "ApiKeysWithRawResponse",
    "AuthResource",
    "AuthWithRawResponse",
    "exchange_token",
]

T = TypeVar("T")
_M = TypeVar("_M", ApiKey, CreatedApiKey, RotatedApiKey, AccessToken)


def _model(cls: type[_M]) -> Callable[[APIResponse[_M]], _M]:
    def parse(raw: APIResponse[_M]) -> _M:
        return tag(decode(raw.content, cls, status=raw.status), raw.request_id)

    return parse


_CREATED: Final = _model(CreatedApiKey)


def _key_list(raw: APIResponse[list[ApiKey]]) -> list[ApiKey]:
    return decode_key_list(raw.content, status=raw.status, request_id=raw.request_id)


def _nothing(_raw: APIResponse[None]) -> None:
    return None


async def _send_exchange(
    client: YativoClient, options: Options, api_key: str, api_secret: Secret
) -> tuple[APIResponse[AccessToken], float]:
    """``POST {token_path}``: the raw response and the loop time the request left.

    With no ``token_path`` given, the path is the SDK's to find: doc 002 names
    ``/apikey/token``, doc 000 ``/auth/token``. A 404 or 405 on one is answered by trying the
    other, once; whichever the server has is kept (on the client all its views share)."""
    secret = api_secret.get_secret_value()
    root = client._root
    path = root.token_path

    def exchange(at: str) -> Call:
        return Call(
            name="token exchange",
            method="POST",
            path=at,
            body={"api_key": api_key, "api_secret": secret},
            auth=False,
            priority=True,
            secrets=(secret,),
        )

    call = exchange(path)
    try:
        outcome = await client._pipeline.run(call, options)
    except APIStatusError as exc:
        other = _OTHER_TOKEN_PATH.get(path) if root._token_path_auto else None
        if other is None or exc.status not in (404, 405):
            raise
        call = exchange(other)
        try:
            outcome = await client._pipeline.run(call, options)
        except APIStatusError:
            # Not proof the other path is the server's (its auth layer may refuse any
            # route): the path tried first keeps its say, and its error is the answer.
            raise exc from None
        root.token_path = other
        _log.info("the token endpoint is %s on this server (%s answered %d)",
                  other, path, exc.status)

    def parse(raw: APIResponse[AccessToken]) -> AccessToken:
        failure = None
        try:
            access = decode(raw.content, AccessToken, status=raw.status)
        except ResponseDecodeError as exc:
            failure = ResponseDecodeError(
                mask_secrets(exc.message, call.secrets), status=exc.status,
                body=None if exc.body is None else mask_secrets(exc.body, call.secrets),
            )
        if failure is not None:
            raise failure  # outside the handler: the unmasked original is not its __context__
        token = access.access_token.get_secret_value()
        if not token or not header_safe(token):
            # A token with CR/LF/NUL would be cached and then break every call at send time.
            raise ResponseDecodeError(
                "the token endpoint returned an access_token that cannot be sent in a header "
                "(empty, or control characters)",
                status=raw.status,
            )
        return tag(access, raw.request_id)

    return APIResponse(outcome, parse), outcome.sent_at


async def exchange_token(
    client: YativoClient, api_key: str, api_secret: Secret
) -> tuple[AccessToken, float]:
    """``POST {token_path}``: a key pair for a bearer token, and the loop time the request
    left (the token's lifetime counts from then). What the token provider calls."""
    raw, sent_at = await _send_exchange(client, client._options, api_key, api_secret)
    return raw.parse(), sent_at


#: doc 002's token path and doc 000's: with no ``token_path`` given, one answers for the other
_OTHER_TOKEN_PATH: Final = {"/apikey/token": "/auth/token", "/auth/token": "/apikey/token"}

#: the same frozen value every time: building a 16-field Call costs ~2.5 µs a call
_LIST: Final = Call(name="list", method="GET", path="/apikey/list")


class _Endpoints:
    def __init__(self, client: YativoClient) -> None:
        self._client = client

    def _options(
        self, timeout: float | None, extra_headers: Mapping[str, str] | None
    ) -> Options:
        base = self._client._options
        if timeout is None and extra_headers is None:
            return base  # the common case: nothing to build
        return evolve_options(base, timeout=timeout, extra_headers=extra_headers)

    def _start(
        self, call: Call, timeout: float | None, extra_headers: Mapping[str, str] | None
    ) -> Coroutine[Any, Any, Outcome]:
        """The pipeline's run of ``call``, not yet awaited (no coroutine frame of its own:
        a queued call holds one frame fewer)."""
        client = self._client
        options = self._options(timeout, extra_headers)
        client._check_open()
        return client._pipeline.run(call, options)

    async def _run(
        self,
        call: Call,
        parse: Callable[[APIResponse[T]], T],
        timeout: float | None,
        extra_headers: Mapping[str, str] | None,
    ) -> APIResponse[T]:
        return APIResponse(await self._start(call, timeout, extra_headers), parse)


class ApiKeysWithRawResponse(_Endpoints):
    """``client.api_keys.with_raw_response``: the same methods, each returning an
    `APIResponse` (status, headers, request id, elapsed, attempts; ``.parse()`` for the
    model)."""

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

    async def list(
        self, *, timeout: float | None = None, extra_headers: Mapping[str, str] | None = None
    ) -> APIResponse[list[ApiKey]]:
        """``GET /apikey/list``."""
        return await self._run(_LIST, _key_list, timeout, extra_headers)

    async def get(
        self,
        key_id: str,
        *,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> APIResponse[ApiKey]:
        """``GET /apikey/{id}``."""
        call = Call(name="get", method="GET", path=key_path(key_id), key_id=key_id)
        return await self._run(call, _model(ApiKey), timeout, extra_headers)

    async def create(
        self,
        *,
        name: str,
        permissions: Sequence[Permission | PermissionName | CustomPermission] | None = None,
        expires_in_days: int | None = None,
        two_factor_code: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> APIResponse[CreatedApiKey]:
        """``POST /apikey/create``; see `ApiKeysResource.create`."""
        body: dict[str, Any] = {"name": _check_name(name)}
        if permissions is not None:
            body["permissions"] = _check_some_permissions(permissions, "omit it for the default")
        if expires_in_days is not None:
            body["expires_in_days"] = _check_days(expires_in_days)
        self._options(timeout, extra_headers)
        code, renew = await self._two_factor(two_factor_code, "create")
        call = Call(name="create", method="POST", path="/apikey/create", body=body,
                    idempotent=False, code=code, code_in_body=True, renew_code=renew,
                    key_name=name)
        return await self._run(call, _model(CreatedApiKey), timeout, extra_headers)

    async def generate(
        self,
        *,
        name: str,
        permissions: Sequence[Scope | ScopeName | CustomPermission] | None = None,
        expires_at: datetime | str | None = None,
        two_factor_code: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> APIResponse[CreatedApiKey]:
        """``POST /apikey/generate``; see `ApiKeysResource.generate`."""
        body: dict[str, Any] = {"name": _check_name(name)}
        if permissions is not None:
            body["permissions"] = _check_some_permissions(permissions, "omit it for all scopes")
        if expires_at is not None:
            body["expires_at"] = _check_expires_at(expires_at)
        self._options(timeout, extra_headers)
        # Doc 000 sends no 2FA code with generate; doc 002 says every key operation needs
        # one. So a code goes when there is one to hand: given to the call, or made from
        # the client's TOTP secret (never asked of a person at a prompt for this call).
        code, renew = None, None
        source = self._client._two_factor
        if two_factor_code is not None:
            code = check_code(two_factor_code)
        elif source is not None and source.renewable:
            code, renew = await source.code(), source
        call = Call(name="generate", method="POST", path="/apikey/generate", body=body,
                    idempotent=False, code=code, renew_code=renew, key_name=name)
        client = self._client

        def parse(raw: APIResponse[CreatedApiKey]) -> CreatedApiKey:
            created = _CREATED(raw)
            if created.rate_limit is not None:
                # The server said what a key of this account may send: where that is
                # stricter than this client's windows, keep to it too (never loosens).
                client._limiter.adopt(created.rate_limit.to_rate_limits())
            return created

        return await self._run(call, parse, timeout, extra_headers)

    async def rotate(
        self,
        key_id: str,
        *,
        two_factor_code: str | None = None,
        adopt: bool | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> APIResponse[RotatedApiKey]:
        """``POST /apikey/{id}/rotate``; see `ApiKeysResource.rotate`. The body is decoded
        at once (the client may have to adopt the new secret)."""
        path = key_path(key_id, "/rotate")
        self._options(timeout, extra_headers)
        code, renew = await self._two_factor(two_factor_code, "rotate")
        call = Call(name="rotate", method="POST", path=path, idempotent=False, code=code,
                    renew_code=renew, key_id=key_id)
        raw = await self._run(call, _model(RotatedApiKey), timeout, extra_headers)
        rotated = raw.parse()
        tokens = self._client.token_provider
        if isinstance(tokens, ExchangeTokenProvider) and adopt is not False:
            # (a blank api_key in the answer names no key: the rotated key keeps its own)
            new_key = rotated.api_key if rotated.api_key and rotated.api_key.strip() else None
            own = new_key is not None and new_key == tokens.api_key
            if adopt or own:
                failure: ResponseDecodeError | None = None
                try:
                    await self._client._root.rotate_credentials(
                        api_key=new_key or tokens.api_key, api_secret=rotated.api_secret
                    )
                except (ValueError, TypeError) as exc:
                    # The server rotated, but what it answered cannot be used (a blank
                    # secret, an API key no header can carry): a bad answer, not bad input.
                    failure = ResponseDecodeError(
                        f"the rotate answer cannot be adopted as the client's credentials "
                        f"({exc}); the key was rotated: its old secret no longer works",
                        status=raw.status,
                    )
                    secret = rotated.api_secret.get_secret_value()
                    if secret.strip():
                        failure = failure.with_secret(rotated.api_secret, rotated.id, new_key)
                if failure is not None:
                    raise failure
        return raw

    async def revoke(
        self,
        key_id: str,
        *,
        two_factor_code: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> APIResponse[None]:
        """``POST /apikey/{id}/revoke``; see `ApiKeysResource.revoke`."""
        path = key_path(key_id, "/revoke")
        self._options(timeout, extra_headers)
        code, renew = await self._two_factor(two_factor_code, "revoke")
        call = Call(name="revoke", method="POST", path=path, code=code, renew_code=renew,
                    key_id=key_id, done_on_replay=frozenset({404, 409}), check_envelope=True)
        return await self._run(call, _nothing, timeout, extra_headers)

    async def update_permissions(
        self,
        key_id: str,
        permissions: Sequence[AnyPermission],
        *,
        two_factor_code: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> APIResponse[None]:
        """``PUT /apikey/{id}/permissions``; see `ApiKeysResource.update_permissions`."""
        path = key_path(key_id, "/permissions")
        perms = _check_some_permissions(permissions, "revoke the key to take every one away")
        self._options(timeout, extra_headers)
        code, renew = await self._two_factor(two_factor_code, "update_permissions")
        call = Call(name="update_permissions", method="PUT", path=path,
                    body={"permissions": perms}, code=code, renew_code=renew, key_id=key_id,
                    check_envelope=True)
        return await self._run(call, _nothing, timeout, extra_headers)


class ApiKeysResource:
    """``client.api_keys``: every key-management endpoint of both doc pages.

    Every method also takes ``timeout=`` (seconds per attempt) and ``extra_headers=`` (sent
    with this call; they cannot replace ``Authorization`` or ``X-2FA-Token``).

    What every method raises:
        ValueError, TypeError: a bad argument (an id that is not one path segment, a bad
            header, a 2FA code that is not 6-8 digits), before anything is sent.
        APIStatusError: the server refused (a subclass per status: `NotFoundError`,
            `PermissionDeniedError` for a wrong 2FA code, `RateLimitError` ...), after the
            retries the policy allows.
        RateLimitError: with ``from_client=True``: no budget within ``max_wait`` (nothing
            was sent).
        APIConnectionError: the request did not complete (`APITimeoutError`,
            `ClientClosedError` when the client was closed meanwhile).
        ResponseDecodeError: a body that is not what the docs promise
            (`ResponseTooLargeError` past ``max_response_bytes``).
        TokenUnavailableError: no bearer token could be had.
        OutcomeUnknownError: ``create``, ``generate`` and ``rotate`` only, when the request
            may have been processed and so was not sent again.
    """

    def __init__(self, client: YativoClient) -> None:
        #: the same methods returning `APIResponse` (status, headers, request id ...)
        self.with_raw_response = ApiKeysWithRawResponse(client)

    async def list(
        self, *, timeout: float | None = None, extra_headers: Mapping[str, str] | None = None
    ) -> list[ApiKey]:
        """``GET /apikey/list``: every key on the account (no secrets).

        Raises: see `ApiKeysResource`.
        """
        # `ApiKeysWithRawResponse.list` inlined (with `_start`): the hottest call, and the
        # one a batch queues by the thousand, runs in two coroutine frames fewer and
        # decodes without an `APIResponse` around the body
        client = self.with_raw_response._client
        if timeout is None and extra_headers is None:
            options = client._options
        else:
            options = self.with_raw_response._options(timeout, extra_headers)
        if client._closed or client._root._closed:
            client._check_open()  # raises, saying which was closed
        outcome = await client._pipeline.run(_LIST, options)
        response = outcome.response
        rid = request_id_from(response.headers)
        fast = _converter.wire_key_list  # (`decode_key_list`'s first step, one call fewer)
        if fast is not None:
            try:
                return fast(response.body, rid)
            except Exception:
                pass  # not the common shape: `decode_key_list` decides, and words the error
        try:
            return decode_key_list(response.body, status=response.status, request_id=rid)
        except ResponseDecodeError as exc:
            failure = call_failure(exc, outcome, rid)
        raise failure  # outside the handler: the unmasked original is not its __context__

    async def get(
        self,
        key_id: str,
        *,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ApiKey:
        """``GET /apikey/{id}``.

        Raises: see `ApiKeysResource`.
        """
        raw = await self.with_raw_response.get(
            key_id, timeout=timeout, extra_headers=extra_headers
        )
        return raw.parse()

    async def create(
        self,
        *,
        name: str,
        permissions: Sequence[Permission | PermissionName | CustomPermission] | None = None,
        expires_in_days: int | None = None,
        two_factor_code: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CreatedApiKey:
        """``POST /apikey/create`` (doc 002): needs 2FA, sent as the ``X-2FA-Token`` header
        and ``two_factor_token`` in the body. Not retried where it may have reached the
        server (`OutcomeUnknownError`).

        ``permissions``: ``"read"``, ``"write"``, ``"transactions"``, ``"webhooks"`` (or
        `Permission` members); a permission the SDK does not know yet type-checks as
        ``CustomPermission("...")`` and is sent as is.

        Raises: see `ApiKeysResource` (`OutcomeUnknownError` names the key to look for).
        """
        raw = await self.with_raw_response.create(
            name=name, permissions=permissions, expires_in_days=expires_in_days,
            two_factor_code=two_factor_code, timeout=timeout, extra_headers=extra_headers,
        )
        return raw.parse()

    async def generate(
        self,
        *,
        name: str,
        permissions: Sequence[Scope | ScopeName | CustomPermission] | None = None,
        expires_at: datetime | str | None = None,
        two_factor_code: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CreatedApiKey:
        """``POST /apikey/generate`` (doc 000): scoped permissions (omit for all scopes),
        optional ``expires_at``. Not retried where it may have reached the server. Sends
        ``X-2FA-Token`` when a code is to hand (``two_factor_code=``, or the client's TOTP
        secret) and needs none otherwise: doc 000 sends none, doc 002 asks one of every key
        operation.

        Raises: see `ApiKeysResource` (`OutcomeUnknownError` names the key to look for).
        """
        raw = await self.with_raw_response.generate(
            name=name, permissions=permissions, expires_at=expires_at,
            two_factor_code=two_factor_code, timeout=timeout, extra_headers=extra_headers,
        )
        return raw.parse()

    async def rotate(
        self,
        key_id: str,
        *,
        two_factor_code: str | None = None,
        adopt: bool | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RotatedApiKey:
        """``POST /apikey/{id}/rotate``: a new secret; the old one stops working.

        ``adopt``: swap the client's own credentials to the new secret (default: when the
        rotated key is the client's own key), so a bot rotates with no restart.

        Raises: see `ApiKeysResource`; `OutcomeUnknownError` when the rotation may have
        happened (it is never sent twice: a second rotation would hide the first secret).
        """
        raw = await self.with_raw_response.rotate(
            key_id, two_factor_code=two_factor_code, adopt=adopt, timeout=timeout,
            extra_headers=extra_headers,
        )
        return raw.parse()

    async def revoke(
        self,
        key_id: str,
        *,
        two_factor_code: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        """``POST /apikey/{id}/revoke``: permanent.

        Retried like a read: revoking twice does no harm. When an attempt's response was
        lost and the replay answers 404 or 409 (gone, already revoked), the first attempt
        did it: the call succeeds. A 2xx whose body reports a failure raises
        `APIStatusError`: a revoke that did not happen never looks done.

        Raises: see `ApiKeysResource`.
        """
        await self.with_raw_response.revoke(
            key_id, two_factor_code=two_factor_code, timeout=timeout,
            extra_headers=extra_headers,
        )

    async def update_permissions(
        self,
        key_id: str,
        permissions: Sequence[AnyPermission],
        *,
        two_factor_code: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        """``PUT /apikey/{id}/permissions``: replaces the whole set.

        Retried like a read: setting the same set twice ends in the same state, so a replay
        after a lost response is safe. A 2xx whose body reports a failure raises
        `APIStatusError`.

        Raises: see `ApiKeysResource`.
        """
        await self.with_raw_response.update_permissions(
            key_id, permissions, two_factor_code=two_factor_code, timeout=timeout,
            extra_headers=extra_headers,
        )


class AuthWithRawResponse(_Endpoints):
    """``client.auth.with_raw_response``."""

    async def exchange_token(
        self,
        *,
        api_key: str | None = None,
        api_secret: SecretLike | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> APIResponse[AccessToken]:
        """See `AuthResource.exchange_token`."""
        client = self._client
        options = self._options(timeout, extra_headers)
        client._check_open()

        async def send(key: str, secret: Secret) -> APIResponse[AccessToken]:
            raw, _sent_at = await _send_exchange(client, options, key, secret)
            raw.parse()  # a bad body fails the call, as the plain method does
            return raw

        tokens = client.token_provider
        if api_key is None and api_secret is None:
            if not isinstance(tokens, ExchangeTokenProvider):
                raise ValueError("exchange_token needs api_key and api_secret")
            return await tokens.exchange_with(send)
        if api_key is None or api_secret is None:
            raise ValueError("api_key and api_secret go together: give both")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        secret = to_secret(api_secret, "api_secret")
        client.stats.tokens.record_exchange("explicit")
        return await send(api_key, secret)


class AuthResource:
    """``client.auth``."""

    def __init__(self, client: YativoClient) -> None:
        self._client = client
        #: the same methods returning `APIResponse`
        self.with_raw_response = AuthWithRawResponse(client)

    async def exchange_token(
        self,
        *,
        api_key: str | None = None,
        api_secret: SecretLike | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AccessToken:
        """Exchange a key pair for a bearer token (the client's own pair by default).

        This is an explicit exchange; the client's own calls use its cached token.

        Raises:
            ValueError: no key pair given and the client has none.
            AuthenticationError: the server refused the pair.
            APIStatusError, APIConnectionError, RateLimitError, ResponseDecodeError: as for
                `ApiKeysResource` (the API secret is masked in every error).
        """
        raw = await self.with_raw_response.exchange_token(
            api_key=api_key, api_secret=api_secret, timeout=timeout, extra_headers=extra_headers
        )
        return raw.parse()

    async def token(self) -> BearerToken:
        """The `BearerToken` the client would send now (fetched if needed).

        Raises:
            ValueError: the client has no credentials.
            TokenUnavailableError: the exchange failed or is backing off.
            ClientClosedError: the client was closed.
        """
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


def _check_some_permissions(permissions: object, otherwise: str) -> list[str]:
    """`_check_permissions`, and at least one (an empty set is refused, not sent)."""
    perms = _check_permissions(permissions)
    if not perms:
        raise ValueError(f"permissions must not be empty ({otherwise})")
    return perms


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


# --------------------------------------------------------------------------------------
# Per-call options: checked here, for endpoint methods and ``with_options()`` alike

#: an HTTP header name (RFC 9110 token)
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: headers a caller may not set, and why
_RESERVED_HEADERS: Final[Mapping[str, str]] = {
    "authorization": "the client sends its own bearer token (give access_token=, "
                     "api_key/api_secret or token_provider= instead)",
    "x-2fa-token": "the client sends the 2FA code (pass two_factor_code= instead)",
    "host": "the transport sets it from base_url",
    "content-length": "the transport sets it",
    "transfer-encoding": "the transport sets it",
    "connection": "the transport manages connections",
}


def check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a positive finite number of seconds, got {timeout!r}")
    return float(timeout)


def check_max_wait(max_wait: object) -> float | None:
    if max_wait is None:
        return None
    if isinstance(max_wait, bool) or not isinstance(max_wait, (int, float)):
        raise TypeError(f"max_wait must be seconds or None, not {type(max_wait).__name__}")
    if not (max_wait >= 0 and math.isfinite(max_wait)):
        raise ValueError(f"max_wait must be >= 0 and finite (or None), got {max_wait!r}")
    return float(max_wait)


def check_lane(priority: object) -> Lane:
    if priority == "interactive" or priority == "batch":
        return priority
    raise ValueError(f'priority must be "interactive" or "batch", got {priority!r}')


def check_extra_headers(headers: object) -> dict[str, str]:
    """The caller's headers, checked: names are tokens, values header-safe strings, and none
    of them takes over what the client or the transport sends."""
    if not isinstance(headers, Mapping):
        raise TypeError(f"extra_headers must be a mapping of str to str, "
                        f"not {type(headers).__name__}")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"extra_headers: {name!r} is not a valid header name")
        why = _RESERVED_HEADERS.get(name.lower())
        if why is not None:
            raise ValueError(f"extra_headers must not set {name}: {why}")
        if not isinstance(value, str):
            raise TypeError(f"extra_headers[{name!r}] must be a str, not {type(value).__name__}")
        if not header_safe(value):
            raise ValueError(f"extra_headers[{name!r}] contains control characters "
                             "(CR, LF, NUL ...)")
        out[name] = value
    return out


def merge_headers(
    base: Mapping[str, str] | None, extra: Mapping[str, str]
) -> Mapping[str, str] | None:
    """``extra`` over ``base``, names compared case-insensitively (HTTP's rule)."""
    if not base:
        return extra or None
    lower = {k.lower() for k in extra}
    merged = {k: v for k, v in base.items() if k.lower() not in lower}
    merged.update(extra)
    return merged


def evolve_options(
    base: Options,
    *,
    timeout: float | None = None,
    extra_headers: Mapping[str, str] | None = None,
    **changes: Any,
) -> Options:
    """``base`` with this call's (or view's) settings, each checked."""
    if timeout is not None:
        changes["timeout"] = check_timeout(timeout)
    if extra_headers is not None:
        changes["extra_headers"] = merge_headers(
            base.extra_headers, check_extra_headers(extra_headers)
        )
    return attrs.evolve(base, **changes) if changes else base
