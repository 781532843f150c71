"""Every documented example payload structures; malformed bodies raise ResponseDecodeError."""

from datetime import datetime, timezone

import pytest

import yativo_async as y
from yativo_async._converter import decode, decode_key_list, to_jsonable

from .conftest import sample


def test_doc000_generate_envelope_and_aliases() -> None:
    key = decode(sample("doc000_generate.json"), y.CreatedApiKey)
    assert key.name == "Production API Key"
    assert key.permissions == ("read", "write", "transactions")
    assert key.api_secret.get_secret_value().startswith("xxxx")
    assert key.expires_at is None and key.id is None
    assert key.rate_limit == y.KeyRateLimit(
        requests_per_minute=60, requests_per_hour=3000, requests_per_day=50000
    )
    assert key.token_expiry_minutes == 60
    assert key.rate_limit.to_rate_limits() == [
        y.RateLimit(60, 60), y.RateLimit(3000, 3600), y.RateLimit(50000, 86400)
    ]


def test_doc000_interface_shape() -> None:
    key = decode(sample("doc000_interface.json"), y.CreatedApiKey)
    assert key.id == "key_9f8e7d"
    assert key.name == "Production Backend"
    assert "accounts:read" in key.permissions
    assert key.created_at == datetime(2026, 3, 26, 10, tzinfo=timezone.utc)


def test_doc002_create() -> None:
    key = decode(sample("doc002_create.json"), y.CreatedApiKey)
    assert key.id == "key_01abc123"
    assert key.api_key == "yvk_live_abc123..."
    assert isinstance(key.api_secret, y.Secret)
    assert key.expires_at == datetime(2027, 3, 26, 10, tzinfo=timezone.utc)
    assert key.expires_at.tzinfo is not None


def test_doc002_list() -> None:
    (key,) = decode_key_list(sample("doc002_list.json"))
    assert key.id == "key_01abc123" and key.status == "active"
    assert key.last_used_at == datetime(2026, 3, 25, 14, 30, tzinfo=timezone.utc)


def test_doc002_rotate_and_token() -> None:
    rotated = decode(sample("doc002_rotate.json"), y.RotatedApiKey)
    assert rotated.api_secret.get_secret_value() == "yvs_live_NEW_SECRET..."
    token = decode(sample("doc002_token.json"), y.AccessToken)
    assert token.expires_in == 3600 and token.token_type == "Bearer"
    assert "eyJ" not in repr(token)


def test_unknown_fields_ignored_unknown_permissions_kept() -> None:
    body = b'{"id": "k", "name": "n", "permissions": ["read", "future:scope"], "new": 1}'
    key = decode(body, y.ApiKey)
    assert key.permissions == ("read", "future:scope")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"not json", "not valid JSON"),
        (b"<html>oops</html>", "not valid JSON"),
        (b'{"keys": [', "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b'"a string"', "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (b'{"name": "n"}', "$.id"),
        (b'{"id": 5, "name": "n"}', "$.id"),
        (b'{"id": "k", "name": "n", "permissions": "read"}', "$.permissions"),
        (b'{"id": "k", "name": "n", "permissions": [1]}', "$.permissions"),
        (b'{"id": "k", "name": "n", "created_at": "yesterday"}', "$.created_at"),
        (b'{"id": "k", "name": "n", "created_at": true}', "$.created_at"),
        (b'{"success": false, "message": "nope", "data": {}}', "server reported failure"),
    ],
)
def test_malformed_api_key_bodies(body: bytes, fragment: str) -> None:
    with pytest.raises(y.ResponseDecodeError) as info:
        decode(body, y.ApiKey, status=200)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        b'{"access_token": "t"}',  # fine: defaults
        b'{"access_token": "", "expires_in": 3600}',
        b'{"access_token": "t", "expires_in": "soon"}',
        b'{"expires_in": 3600}',
        b'{"access_token": 12, "expires_in": 3600}',
        b'{"api_secret": "s"}',
    ],
)
def test_token_bodies(body: bytes) -> None:
    if body == b'{"access_token": "t"}':
        assert decode(body, y.AccessToken).expires_in == 3600
        return
    with pytest.raises(y.ResponseDecodeError):
        decode(body, y.AccessToken)


@pytest.mark.parametrize(
    "body", [b'{"items": []}', b'{"keys": {"a": 1}}', b'{"keys": [{"id": "x"}]}', b"5"]
)
def test_malformed_lists(body: bytes) -> None:
    with pytest.raises(y.ResponseDecodeError):
        decode_key_list(body)


def test_list_variants() -> None:
    bare = b'[{"id": "a", "name": "b"}]'
    wrapped = b'{"success": true, "message": "", "data": {"keys": [{"id": "a", "name": "b"}]}}'
    assert decode_key_list(bare)[0].id == "a"
    assert decode_key_list(wrapped)[0].id == "a"


def test_decode_error_body_has_no_secret() -> None:
    body = b'{"api_secret": "yvs_live_TOPSECRET", "api_key": 5}'
    with pytest.raises(y.ResponseDecodeError) as info:
        decode(body, y.CreatedApiKey)
    assert "TOPSECRET" not in str(info.value)
    assert "TOPSECRET" not in (info.value.body or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-26T10:00:00Z", datetime(2026, 3, 26, 10, tzinfo=timezone.utc)),
        ("2026-03-26T10:00:00+00:00", datetime(2026, 3, 26, 10, tzinfo=timezone.utc)),
        ("2026-03-26T10:00:00", datetime(2026, 3, 26, 10, tzinfo=timezone.utc)),
        ("2026-03-26T12:00:00.123+02:00", datetime(2026, 3, 26, 10, 0, 0, 123000,
                                                     tzinfo=timezone.utc)),
    ],
)
def test_datetimes_are_aware(text: str, expected: datetime) -> None:
    key = decode(b'{"id": "k", "name": "n", "created_at": "%s"}' % text.encode(), y.ApiKey)
    assert key.created_at == expected
    assert key.created_at is not None and key.created_at.tzinfo is not None


def test_to_jsonable_masks_unless_revealed() -> None:
    key = decode(sample("doc002_create.json"), y.CreatedApiKey)
    masked = to_jsonable(key)
    assert masked["api_secret"] != "yvs_live_xyz789..."
    assert to_jsonable(key, reveal_secrets=True)["api_secret"] == "yvs_live_xyz789..."
    assert masked["created_at"] == "2026-03-26T10:00:00Z"


def test_permission_vocabularies() -> None:
    assert {"read", "write", "transactions", "webhooks"} == y.COARSE_PERMISSIONS
    assert "analytics:read" in y.SCOPED_PERMISSIONS
    assert y.Permission.READ == "read" and y.Scope.WEBHOOKS_MANAGE == "webhooks:manage"
