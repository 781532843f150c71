"""Secrets never reach a repr, a log record, an exception or its args."""

from __future__ import annotations

import logging
import pickle

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


_SECRET = "yvs_live_" + "S" * 24
_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def test_secrets_a_hostile_server_echoes_are_masked_in_every_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The server echoes what it was sent (the bearer token, the 2FA code) as its request id,
    # and the client's own API secret and TOTP secret in messages and bodies of calls that
    # never sent them (not only the token exchange, which does).
    import json as _json

    mode: dict[str, str] = {}

    def server(request: y.Request) -> y.Response:
        if request.url.endswith("/apikey/token"):
            return y.Response(status=200, body=_json.dumps(
                {"access_token": "tok_" + "T" * 20, "expires_in": 3600}).encode())
        bearer = request.headers["Authorization"]
        if mode["m"] == "token-id":
            return y.Response(status=404, headers={"x-request-id": bearer},
                              body=b'{"message": "not found"}')
        if mode["m"] == "code-id":
            return y.Response(status=400, headers={"x-request-id": request.headers["X-2FA-Token"]},
                              body=b'{"message": "bad"}')
        if mode["m"] == "held":
            return y.Response(status=400, body=_json.dumps(
                {"message": f"secret {_SECRET} / totp {_TOTP} refused"}).encode())
        if mode["m"] == "decode":
            return y.Response(status=200, body=_json.dumps(
                {"keys": [{"id": _SECRET}], "note": _TOTP}).encode())
        return y.Response(status=200, headers={"x-request-id": bearer}, body=b'{"keys": []}')

    caplog.set_level(logging.DEBUG, logger="yativo_async")
    texts: list[str] = []
    async with y.YativoClient(api_key="yvk_live_k", api_secret=_SECRET, two_factor=_TOTP,
                              transport=y.MockTransport(server),
                              retry=y.RetryPolicy.none()) as client:
        for m, call, kind in [
            ("token-id", lambda: client.api_keys.get("key_1"), y.NotFoundError),
            ("code-id", lambda: client.api_keys.revoke("key_1"), y.BadRequestError),
            ("held", lambda: client.api_keys.list(), y.BadRequestError),
            ("decode", lambda: client.api_keys.list(), y.ResponseDecodeError),
        ]:
            mode["m"] = m
            with pytest.raises(kind) as info:
                await call()
            exc = info.value
            texts += [str(exc), repr(exc), repr(exc.args), str(getattr(exc, "body", "")),
                      str(getattr(exc, "request_id", ""))]
            texts += [str(getattr(exc, "headers", "")), str(pickle.dumps(exc))]
        mode["m"] = "ok-id"
        raw = await client.api_keys.with_raw_response.list()
        texts += [repr(raw), str(raw.request_id), str(raw.headers)]
        await client.rotate_credentials(api_secret="yvs_live_" + "N" * 24)
        mode["m"] = "held"  # the rotated-away secret is masked still
        with pytest.raises(y.BadRequestError) as after:
            await client.api_keys.list()
        texts.append(str(after.value))
        code = pyotp_now(_TOTP)
    texts += [record.getMessage() for record in caplog.records]
    blob = "\n".join(texts)
    for secret in (_SECRET, _TOTP, "T" * 20, code):
        assert secret not in blob
    assert "request id Bearer ***" in blob or "request_id='Bearer ***'" in blob


def pyotp_now(secret: str) -> str:
    import pyotp

    return str(pyotp.TOTP(secret).now())


async def test_a_new_secret_in_an_answer_that_does_not_decode_is_not_lost() -> None:
    import json as _json

    secret = "yvs_live_" + "Z" * 30

    def server(request: y.Request) -> y.Response:
        return y.Response(status=201, body=_json.dumps({
            "id": "key_9", "name": "x", "api_key": "yvk_live_9", "api_secret": secret,
            "permissions": ["read"], "created_at": "yesterday"}).encode())

    async with y.YativoClient(access_token="t" * 10, transport=y.MockTransport(server),
                              retry=y.RetryPolicy.none()) as client:
        with pytest.raises(y.ResponseDecodeError) as info:
            await client.api_keys.create(name="x", two_factor_code="123456")
    exc = info.value
    assert exc.api_secret is not None and exc.api_secret.get_secret_value() == secret
    assert (exc.key_id, exc.api_key) == ("key_9", "yvk_live_9")
    assert "created_at" in str(exc) and ".api_secret" in str(exc) and "key_9" in str(exc)
    for text in (str(exc), repr(exc), str(exc.body), repr(exc.args)):
        assert secret not in text
    # it still crosses a process boundary (a Secret refuses pickling): without the secret
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is y.ResponseDecodeError and copy.key_id == "key_9"
    assert copy.api_secret is None and secret.encode() not in pickle.dumps(exc)
