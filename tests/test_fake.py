"""FakeYativo's rules, each with a test that fails when the rule is broken."""

from __future__ import annotations

import asyncio
import json

import pytest

import yativo_async as y
from yativo_async.testing import FakeYativo


async def call(fake: FakeYativo, method: str = "GET", path: str = "/api/apikey/list",
               token: str | None = None, body: object = None,
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    hdrs = {"Authorization": f"Bearer {token or fake.access_token}", **(headers or {})}
    raw = b"" if body is None else json.dumps(body).encode()
    status, out, payload, _slow = await fake.handle(method, path, hdrs, raw)
    return status, out, payload


@pytest.mark.looptime
@pytest.mark.parametrize(("limit", "period"), [(60, 60.0), (3000, 3600.0), (50_000, 86_400.0)])
async def test_sliding_window_boundary(limit: int, period: float) -> None:
    fake = FakeYativo(rate_limits=[y.RateLimit(limit, period)])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert (await call(fake))[0] == 200  # the oldest, at t0
    await asyncio.sleep(1)
    for _ in range(limit - 1):  # the rest, at t0 + 1
        status, headers, _ = await call(fake)
        assert status == 200
    assert headers["X-RateLimit-Remaining"] == "0"
    status, headers, _ = await call(fake)
    assert status == 429  # N + 1 refused
    assert float(headers["Retry-After"]) == pytest.approx(period - 1, abs=1)
    await asyncio.sleep(t0 + period - 0.01 - loop.time())
    assert (await call(fake))[0] == 429  # still inside the window of the oldest
    await asyncio.sleep(t0 + period - loop.time())
    assert loop.time() == pytest.approx(t0 + period, abs=1e-6)
    assert (await call(fake))[0] == 200  # exactly one period after the oldest
    assert (await call(fake))[0] == 429  # and only that one slot came back
    assert fake.count("status:429") == 3


@pytest.mark.looptime
async def test_refused_requests_do_not_count_and_windows_are_per_identity() -> None:
    fake = FakeYativo(rate_limits=[y.RateLimit(2, 10.0)])
    key = fake.add_key()
    for _ in range(2):
        assert (await call(fake))[0] == 200
    for _ in range(5):
        assert (await call(fake))[0] == 429
    await asyncio.sleep(10)
    assert (await call(fake))[0] == 200  # the 429s took nothing
    # a key's exchange counts against that key, not the user token
    body = {"api_key": key.api_key, "api_secret": key.api_secret}
    assert (await call(fake, "POST", "/api/apikey/token", body=body))[0] == 200
    assert (await call(fake, "POST", "/api/apikey/token", body=body))[0] == 200
    assert (await call(fake, "POST", "/api/apikey/token", body=body))[0] == 429


@pytest.mark.looptime
async def test_tokens_expire_after_ttl() -> None:
    fake = FakeYativo(token_ttl=60)
    key = fake.add_key()
    status, _, raw = await call(fake, "POST", "/api/auth/token",
                                body={"api_key": key.api_key, "api_secret": key.api_secret})
    assert status == 200
    token = json.loads(raw)
    assert token["expires_in"] == 60
    assert token["token_type"] == "Bearer"
    assert (await call(fake, token=token["access_token"]))[0] == 200
    await asyncio.sleep(59.9)
    assert (await call(fake, token=token["access_token"]))[0] == 200
    await asyncio.sleep(0.1)
    assert (await call(fake, token=token["access_token"]))[0] == 401


async def test_2fa_rejected_missing_or_wrong() -> None:
    fake = FakeYativo()
    key = fake.add_key()
    for route in (f"/api/apikey/{key.id}/revoke", f"/api/apikey/{key.id}/rotate"):
        status, _, raw = await call(fake, "POST", route)
        assert status == 403
        assert b"2FA code required" in raw
        status, _, raw = await call(fake, "POST", route, headers={"X-2FA-Token": "000000"})
        assert status == 403
        assert b"Invalid 2FA code" in raw
    status, _, _ = await call(fake, "PUT", f"/api/apikey/{key.id}/permissions",
                              body={"permissions": ["read"]})
    assert status == 403
    # create takes the code from the body too
    status, _, _ = await call(fake, "POST", "/api/apikey/create",
                              body={"name": "n", "two_factor_token": fake.totp_now()})
    assert status == 201
    assert fake.keys[key.id].status == "active"


async def test_rotate_cuts_old_secret_and_revoke_cuts_tokens() -> None:
    fake = FakeYativo()
    key = fake.add_key()
    creds = {"api_key": key.api_key, "api_secret": key.api_secret}
    status, _, raw = await call(fake, "POST", "/api/apikey/token", body=creds)
    token = json.loads(raw)["access_token"]
    code = {"X-2FA-Token": fake.totp_now()}
    status, _, raw = await call(fake, "POST", f"/api/apikey/{key.id}/rotate", headers=code)
    new_secret = json.loads(raw)["api_secret"]
    assert (await call(fake, "POST", "/api/apikey/token", body=creds))[0] == 401
    new = {"api_key": key.api_key, "api_secret": new_secret}
    assert (await call(fake, "POST", "/api/apikey/token", body=new))[0] == 200
    assert (await call(fake, token=token))[0] == 200  # rotation keeps issued tokens
    assert (await call(fake, "POST", f"/api/apikey/{key.id}/revoke", headers=code))[0] == 200
    assert (await call(fake, token=token))[0] == 401
    assert (await call(fake, "POST", "/api/apikey/token", body=new))[0] == 401


async def test_validation_422() -> None:
    fake = FakeYativo()
    code = {"X-2FA-Token": fake.totp_now()}
    for body in ({"name": ""}, {"name": "x" * 101}, {"name": "n", "permissions": ["admin"]},
                 {"name": "n", "permissions": ["transactions:read"]},
                 {"name": "n", "expires_in_days": 0}):
        status, _, raw = await call(fake, "POST", "/api/apikey/create", body=body, headers=code)
        assert status == 422, body
        assert json.loads(raw)["message"]
    status, _, _ = await call(fake, "POST", "/api/apikey/generate",
                              body={"name": "n", "permissions": ["read"]})
    assert status == 422  # generate takes scoped permissions
    status, _, _ = await call(fake, "POST", "/api/apikey/generate",
                              body={"name": "n", "expires_at": "2000-01-01T00:00:00Z"})
    assert status == 422
    assert fake.keys_created == 0


@pytest.mark.looptime
async def test_key_expiry_follows_loop_clock() -> None:
    fake = FakeYativo()
    code = {"X-2FA-Token": fake.totp_now()}
    status, _, raw = await call(fake, "POST", "/api/apikey/create",
                                body={"name": "short", "expires_in_days": 1}, headers=code)
    created = json.loads(raw)
    creds = {"api_key": created["api_key"], "api_secret": created["api_secret"]}
    assert (await call(fake, "POST", "/api/apikey/token", body=creds))[0] == 200
    await asyncio.sleep(86_400)
    assert (await call(fake, "POST", "/api/apikey/token", body=creds))[0] == 401
    _, _, raw = await call(fake, "GET", f"/api/apikey/{created['id']}")
    assert json.loads(raw)["status"] == "revoked"


async def test_shapes_are_the_documented_ones() -> None:
    fake = FakeYativo()
    _, _, raw = await call(fake, "POST", "/api/apikey/generate", body={"name": "g"})
    gen = json.loads(raw)
    assert set(gen) == {"success", "message", "warning", "data"}
    assert {"key_id", "api_key", "api_secret", "key_name", "scopes", "rate_limit",
            "token_expiry_minutes"} <= set(gen["data"])
    _, _, raw = await call(fake, "POST", "/api/apikey/create", body={"name": "c"},
                           headers={"X-2FA-Token": fake.totp_now()})
    assert set(json.loads(raw)) == {"id", "name", "api_key", "api_secret", "permissions",
                                    "expires_at", "created_at"}
    _, _, raw = await call(fake)
    listed = json.loads(raw)["keys"]
    assert all("api_secret" not in k for k in listed)
    assert {k["status"] for k in listed} == {"active"}
    assert (await call(fake, "GET", "/api/nothing"))[0] == 404
    assert (await call(fake, token="bogus"))[0] == 401


# -- faults -------------------------------------------------------------------------------


@pytest.mark.looptime
async def test_latency_and_jitter_are_seeded() -> None:
    async def delays(seed: int) -> list[float]:
        fake = FakeYativo(seed=seed, rate_limits=[])
        fake.set_faults(latency=0.05, jitter=0.02)
        loop = asyncio.get_running_loop()
        out = []
        for _ in range(5):
            t = loop.time()
            await call(fake)
            out.append(round(loop.time() - t, 6))
        return out

    first, again, other = await delays(1), await delays(1), await delays(2)
    assert first == again
    assert first != other
    assert all(0.05 <= d <= 0.07 for d in first)


async def test_error_statuses_and_retry_after() -> None:
    fake = FakeYativo()
    fake.set_faults(error_rate=1.0, error_statuses=(502,))
    assert (await call(fake))[0] == 502
    fake.clear_faults()
    fake.set_faults(retry_after_rate=1.0, retry_after=7)
    status, headers, _ = await call(fake)
    assert status == 503
    assert headers["Retry-After"] == "7"


async def test_per_route_faults_only_hit_that_route() -> None:
    fake = FakeYativo()
    fake.set_faults("get", error_rate=1.0, error_statuses=(500,))
    assert (await call(fake))[0] == 200
    assert (await call(fake, "GET", "/api/apikey/key_x"))[0] == 500
    with pytest.raises(ValueError, match="unknown route"):
        fake.set_faults("nope", error_rate=1.0)


async def test_dropped_connection_in_process_and_on_socket() -> None:
    async with FakeYativo() as fake:
        fake.set_faults(drop_rate=1.0)
        for transport in (fake.transport(), None):
            async with y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                      transport=transport, retry=y.RetryPolicy.none()) as c:
                with pytest.raises(y.APIConnectionError) as info:
                    await c.api_keys.list()
                assert info.value.maybe_sent is True
        assert fake.count("dropped") == 2


async def test_malformed_html_and_extra_field_through_the_client() -> None:
    fake = FakeYativo()
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                              retry=y.RetryPolicy.none()) as client:
        fake.set_faults(extra_field=True)
        assert await client.api_keys.list() == []
        fake.clear_faults()
        fake.set_faults(malformed_rate=1.0)
        with pytest.raises(y.ResponseDecodeError, match="not valid JSON"):
            await client.api_keys.list()
        fake.clear_faults()
        fake.set_faults(html_rate=1.0)
        with pytest.raises(y.ServerError, match="502 Bad Gateway") as info:
            await client.api_keys.list()
        assert info.value.status == 502


async def test_slow_body_on_socket() -> None:
    async with FakeYativo() as fake:
        fake.set_faults(slow_body=0.2)
        async with y.YativoClient(access_token=fake.access_token, base_url=fake.base_url) as c:
            loop = asyncio.get_running_loop()
            t = loop.time()
            assert await c.api_keys.list() == []
            assert loop.time() - t >= 0.15
        async with y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                  timeout=0.1, retry=y.RetryPolicy.none()) as c:
            with pytest.raises(y.APITimeoutError):
                await c.api_keys.list()


async def test_journal_and_counters() -> None:
    fake = FakeYativo()
    key = fake.add_key()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport()) as client:
        await client.api_keys.list()
        await client.api_keys.get(key.id)
    assert [e.route for e in fake.journal] == ["token", "list", "get"]
    assert fake.token_exchanges == 1
    assert fake.count("route:list") == 1
    assert fake.count("status:200") == 3
    assert all(e.identity == "key:" + key.api_key for e in fake.journal)
    assert all(key.api_secret not in json.dumps(dict(e.headers)) for e in fake.journal)


def test_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeYativo(host="0.0.0.0")


@pytest.mark.parametrize("value", ["tök€n", "\ud800", "e\u0301"])
async def test_a_non_ascii_token_or_secret_is_refused_not_a_crash(value: str) -> None:
    # compare_digest refuses non-ASCII str: the fake must answer 401, not a 500
    fake = FakeYativo()
    key = fake.add_key()
    assert (await call(fake, token=value))[0] == 401
    creds = {"api_key": key.api_key, "api_secret": value}
    assert (await call(fake, "POST", "/api/apikey/token", body=creds))[0] == 401


async def test_a_time_with_an_offset_is_answered_in_utc() -> None:
    # "2030-01-01T00:00:00+05:00" came back as "2030-01-01T00:00:00Z": five hours off.
    from datetime import datetime, timedelta, timezone

    fake = FakeYativo()
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                              two_factor=fake.totp_secret) as client:
        when = datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=5)))
        created = await client.api_keys.generate(name="g", expires_at=when)
    assert created.expires_at == when
    assert created.expires_at is not None
    assert created.expires_at.utcoffset() == timedelta(0)
