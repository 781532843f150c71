"""Secrets never reach a repr, a log record, an exception or its args."""

from __future__ import annotations

import logging

import pytest

import yativo_async as y
from yativo_async.testing import FakeYativo


def test_secret_masks() -> None:
    s = y.Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert "hunter2" not in f"{s:>20}"
    assert s.get_secret_value() == "hunter2"
    assert s == y.Secret("hunter2") and s != y.Secret("other")
    with pytest.raises(TypeError):
        y.Secret(5)  # type: ignore[arg-type]
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(s)


async def test_nothing_secret_in_logs_reprs_or_errors(
    fake: FakeYativo, caplog: pytest.LogCaptureFixture
) -> None:
    key = fake.add_key("bot", ["read"])
    secrets_seen = [key.api_secret, fake.access_token]
    caplog.set_level(logging.DEBUG, logger="yativo_async")
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(),
                              two_factor=fake.totp_secret) as client:
        await client.api_keys.list()
        created = await client.api_keys.create(name="new", permissions=["read"])
        secrets_seen.append(created.api_secret.get_secret_value())
        token = client.token_provider.current  # type: ignore[union-attr]
        assert token is not None
        secrets_seen.append(token.value.get_secret_value())
        secrets_seen.append(fake.totp_now())
        texts = [repr(client), repr(created), str(created), repr(token),
                 repr(client.token_provider.__dict__)]  # type: ignore[union-attr]
        with pytest.raises(y.PermissionDeniedError) as info:
            await client.api_keys.revoke(key.id, two_factor_code="000000")
        texts += [str(info.value), repr(info.value.args), str(info.value.body),
                  str(info.value.headers)]
    # a wrong secret: the error says so, without the secret
    async with y.YativoClient(api_key=key.api_key, api_secret="yvs_live_WRONGSECRET",
                              transport=fake.transport()) as bad:
        with pytest.raises(y.AuthenticationError) as auth:
            await bad.api_keys.list()
        texts += [str(auth.value), repr(auth.value.args), repr(bad)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("GET /apikey/list -> 200" in r.getMessage() for r in caplog.records)
    blob = "\n".join(texts)
    for secret in [*secrets_seen, "yvs_live_WRONGSECRET"]:
        assert secret not in blob
    assert "Authorization" not in blob


def test_journal_masks_headers() -> None:
    import asyncio

    async def run() -> FakeYativo:
        fake = FakeYativo()
        async with y.YativoClient(access_token=fake.access_token,
                                  transport=fake.transport()) as client:
            await client.api_keys.list()
        return fake

    fake = asyncio.run(run())
    assert fake.journal[0].headers["authorization"] == "***"
