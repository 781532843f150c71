"""Every endpoint, over aiohttp (real socket), httpx (real socket) and in-process."""

from __future__ import annotations

import pytest

import yativo_async as y
from yativo_async.testing import FakeYativo

Served = tuple[FakeYativo, y.YativoClient]


async def test_create_sends_2fa_header_and_body(served: Served) -> None:
    fake, client = served
    new = await client.api_keys.create(
        name="Production Server", permissions=["read", "write"], expires_in_days=365
    )
    assert new.id is not None and new.id in fake.keys
    assert new.api_secret.get_secret_value() == fake.keys[new.id].api_secret
    assert new.permissions == ("read", "write")
    assert new.expires_at is not None and new.created_at is not None
    (entry,) = [e for e in fake.journal if e.route == "create"]
    assert entry.headers["x-2fa-token"] == "***"  # sent (and masked in the journal)
    assert entry.status == 201


async def test_generate_doc000(served: Served) -> None:
    fake, client = served
    gen = await client.api_keys.generate(name="Backend", permissions=[y.Scope.TRANSACTIONS_READ])
    assert gen.permissions == ("transactions:read",)
    assert gen.rate_limit is not None and gen.rate_limit.requests_per_minute == 60
    assert gen.id in fake.keys


async def test_list_get_rotate_permissions_revoke(served: Served) -> None:
    fake, client = served
    key = fake.add_key("ops", ["read"])
    keys = await client.api_keys.list()
    assert [k.id for k in keys] == [key.id]
    got = await client.api_keys.get(key.id)
    assert got.name == "ops" and got.status == "active"
    old_secret = key.api_secret
    rotated = await client.api_keys.rotate(key.id)
    assert rotated.api_secret.get_secret_value() == fake.keys[key.id].api_secret != old_secret
    await client.api_keys.update_permissions(key.id, ["read", "transactions"])
    assert fake.keys[key.id].permissions == ["read", "transactions"]
    await client.api_keys.revoke(key.id)
    assert (await client.api_keys.get(key.id)).status == "revoked"


async def test_not_found_and_validation(served: Served) -> None:
    _fake, client = served
    with pytest.raises(y.NotFoundError) as info:
        await client.api_keys.get("key_missing")
    assert info.value.request_id is not None
    with pytest.raises(y.BadRequestError, match="unknown permission"):
        await client.api_keys.create(name="x", permissions=["admin"])


async def test_key_pair_auth_exchanges_once(served: Served) -> None:
    fake, client = served
    key = fake.add_key("bot", ["read"])
    async with y.YativoClient(
        api_key=key.api_key, api_secret=key.api_secret, base_url=fake.base_url,
        transport=fake.transport(),
    ) as bot:
        for _ in range(3):
            await bot.api_keys.list()
        assert fake.token_exchanges == 1
        assert bot.stats.token_exchanges == 1
        token = await bot.auth.exchange_token()
        assert token.expires_in == 3600 and token.token_type == "Bearer"


async def test_doc000_token_path(fake: FakeYativo) -> None:
    key = fake.add_key("bot", ["read"])
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), token_path="/auth/token") as bot:
        await bot.api_keys.list()
    assert fake.journal[0].path == "/api/auth/token"


async def test_wrong_2fa_is_permission_denied(fake: FakeYativo) -> None:
    import pyotp

    # A fixed code is right by chance 3 times in a million (the fake's secret is random and
    # it accepts the neighbouring steps): pick one it rejects now.
    totp = pyotp.TOTP(fake.totp_secret)
    wrong = next(c for c in ("000000", "111111", "222222") if not totp.verify(c, valid_window=1))
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                              two_factor=lambda: wrong) as client:
        key = fake.add_key()
        with pytest.raises(y.PermissionDeniedError, match="Invalid 2FA code"):
            await client.api_keys.revoke(key.id)
    assert fake.keys[key.id].status == "active"


async def test_2fa_callable_sync_async_and_per_call(fake: FakeYativo) -> None:
    key = fake.add_key()

    async def async_code() -> str:
        return fake.totp_now()

    for source in (fake.totp_now, async_code):
        async with y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                                  two_factor=source) as client:
            await client.api_keys.update_permissions(key.id, ["read"])
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport()) as c:
        await c.api_keys.update_permissions(key.id, ["write"], two_factor_code=fake.totp_now())
    assert fake.keys[key.id].permissions == ["write"]


async def test_missing_2fa_raises_before_sending(fake: FakeYativo) -> None:
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport()) as c:
        with pytest.raises(ValueError, match="2FA"):
            await c.api_keys.create(name="x")
        with pytest.raises(ValueError, match="2FA"):
            await c.api_keys.revoke("key_1")
        with pytest.raises(ValueError, match="2FA"):
            await c.api_keys.rotate("key_1")
    assert fake.count("requests") == 0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.api_keys.create(name="", two_factor_code="123456"), ValueError),
        (lambda c: c.api_keys.create(name=5, two_factor_code="123456"), TypeError),
        (lambda c: c.api_keys.create(name="x", permissions="read", two_factor_code="123456"),
         TypeError),
        (lambda c: c.api_keys.create(name="x", expires_in_days=0, two_factor_code="123456"),
         ValueError),
        (lambda c: c.api_keys.create(name="x", two_factor_code="12ab"), ValueError),
        (lambda c: c.api_keys.get(""), ValueError),
        (lambda c: c.api_keys.get("../list"), ValueError),
        (lambda c: c.api_keys.get(42), TypeError),
        (lambda c: c.api_keys.generate(name="x", expires_at="tomorrow"), ValueError),
        (lambda c: c.api_keys.update_permissions("k", [], two_factor_code="123456"), ValueError),
        # an empty set is refused, not sent (doc 002: "one or more of")
        (lambda c: c.api_keys.create(name="x", permissions=[], two_factor_code="123456"),
         ValueError),
        (lambda c: c.api_keys.generate(name="x", permissions=[]), ValueError),
        # ASCII digits only: "١٢٣٤٥٦" and "¹²³⁴⁵⁶" pass str.isdigit()
        (lambda c: c.api_keys.revoke("k", two_factor_code="\u0661\u0662\u0663\u0664\u0665\u0666"),
         ValueError),
        (lambda c: c.api_keys.create(name="x", two_factor_code="\u00b9\u00b2\u00b3\u2074\u2075\u2076"),
         ValueError),
        # control characters in a key id (sent percent-encoded before)
        (lambda c: c.api_keys.get("a\x00b"), ValueError),
        (lambda c: c.api_keys.revoke("key\x1b[31m", two_factor_code="123456"), ValueError),
        (lambda c: c.api_keys.get("k\x7f"), ValueError),
        (lambda c: c.api_keys.get("k\x85"), ValueError),
    ],
)
async def test_bad_arguments_fail_before_sending(fake: FakeYativo, call, error) -> None:  # type: ignore[no-untyped-def]
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport()) as c:
        with pytest.raises(error):
            await call(c)
    assert fake.count("requests") == 0


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="go together"):
        y.YativoClient(api_key="k")
    with pytest.raises(ValueError, match="only one way"):
        y.YativoClient(api_key="k", api_secret="s", access_token="t")
    with pytest.raises(ValueError, match="base_url"):
        y.YativoClient(access_token="t", base_url="ftp://x")
    with pytest.raises(ValueError, match="base32"):
        y.YativoClient(access_token="t", two_factor="not base32 !!")
    with pytest.raises(ValueError):
        y.RateLimit(0, 60)
    with pytest.raises(TypeError):
        y.YativoClient(access_token="t", rate_limits=[(60, 60)])


async def test_no_credentials_raises_before_sending(fake: FakeYativo) -> None:
    # Fail fast: at construction (tests/test_ux.py checks the message).
    with pytest.raises(ValueError, match="credentials"):
        y.YativoClient(transport=fake.transport())
    assert fake.count("requests") == 0


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YATIVO_API_KEY", "yvk_live_1")
    monkeypatch.setenv("YATIVO_API_SECRET", "yvs_live_2")
    monkeypatch.setenv("YATIVO_BASE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("YATIVO_TOTP_SECRET", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    client = y.YativoClient.from_env()
    assert client.base_url == "http://127.0.0.1:9/api"
    assert isinstance(client.token_provider, y.ExchangeTokenProvider)
    assert "yvs_live_2" not in repr(client)
    monkeypatch.delenv("YATIVO_API_KEY")
    monkeypatch.delenv("YATIVO_API_SECRET")
    monkeypatch.setenv("YATIVO_ACCESS_TOKEN", "tok")
    assert isinstance(y.YativoClient.from_env().token_provider, y.StaticTokenProvider)
