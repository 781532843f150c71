"""Every program in examples/ run against FakeYativo, as a user would run it."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from rich.console import Console

import yativo_async as y
from examples import aiohttp_app, bot, fastapi_app, rotate_keys
from yativo_async.testing import FakeYativo

# -- the web apps -------------------------------------------------------------------------


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeYativo]:
    """The fake on a loopback port, with a small budget so a test can run it out."""
    async with FakeYativo(rate_limits=[y.RateLimit(100, 60.0)]) as fake:
        fake.add_key("alpha", ["read"])
        fake.add_key("beta", ["read", "write"])
        yield fake


def factory_for(fake: FakeYativo, made: list[y.YativoClient]) -> Callable[[], y.YativoClient]:
    """The app's client factory, pointed at the fake: 3 calls per minute, no waiting for budget
    (`max_wait=0`), so the fourth request in a minute is the app's own 429."""

    def make() -> y.YativoClient:
        client = y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                rate_limits=[y.RateLimit(3, 60.0)], max_wait=0.0)
        made.append(client)
        return client

    return make


async def test_aiohttp_app_shares_one_client_and_maps_budget_to_429(
    fake_server: FakeYativo,
) -> None:
    made: list[y.YativoClient] = []
    app = aiohttp_app.create_app(factory_for(fake_server, made))
    async with TestClient(TestServer(app)) as http:
        assert len(made) == 1 and not made[0].closed  # created at startup
        listed = await http.get("/keys")
        assert listed.status == 200
        assert sorted(k["name"] for k in await listed.json()) == ["alpha", "beta"]
        key_id = (await listed.json())[0]["id"]
        got = await http.get(f"/keys/{key_id}")
        assert got.status == 200 and (await got.json())["id"] == key_id
        assert (await http.get("/keys/key_missing")).status == 404  # the third call
        limited = await http.get("/keys")
        assert limited.status == 429
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert (await limited.json())["retry_after"] == retry_after
        assert len(made) == 1  # every request used the one client
    assert made[0].closed  # closed at shutdown
    assert fake_server.count("status:429") == 0  # the client refused; the server never had to
    assert fake_server.count("requests") == 3


async def test_fastapi_app_shares_one_client_and_maps_budget_to_429(
    fake_server: FakeYativo,
) -> None:
    made: list[y.YativoClient] = []
    app = fastapi_app.create_app(factory_for(fake_server, made))
    async with app.router.lifespan_context(app):  # what uvicorn runs at startup/shutdown
        assert len(made) == 1 and not made[0].closed
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            listed = await http.get("/keys")
            assert listed.status_code == 200
            assert sorted(k["name"] for k in listed.json()) == ["alpha", "beta"]
            key_id = listed.json()[0]["id"]
            got = await http.get(f"/keys/{key_id}")
            assert got.status_code == 200 and got.json()["id"] == key_id
            assert (await http.get("/keys/key_missing")).status_code == 404
            limited = await http.get("/keys")
            assert limited.status_code == 429
            retry_after = int(limited.headers["Retry-After"])
            assert 1 <= retry_after <= 60
            assert limited.json()["retry_after"] == retry_after
        assert len(made) == 1
    assert made[0].closed
    assert fake_server.count("status:429") == 0
    assert fake_server.count("requests") == 3


# -- the batch job ------------------------------------------------------------------------


def quiet() -> Console:
    return Console(file=io.StringIO(), width=100)


def fake_with_keys(n: int) -> FakeYativo:
    fake = FakeYativo()  # the documented limits: 60/min, 3000/h, 50000/day
    for i in range(n):
        fake.add_key(f"svc-{i:03d}", ["read"])
    return fake


def client_for(fake: FakeYativo) -> y.YativoClient:
    return y.YativoClient(access_token=fake.access_token, two_factor=fake.totp_secret,
                          transport=fake.transport())


@pytest.mark.looptime
async def test_batch_rotation_survives_ctrl_c_and_resumes(tmp_path: Path) -> None:
    fake = fake_with_keys(300)
    state, secrets = tmp_path / "state.jsonl", tmp_path / "secrets.jsonl"

    async with client_for(fake) as client:
        job = asyncio.current_task()

        def ctrl_c_after_100(summary: rotate_keys.Summary) -> None:
            if summary.done == 100:
                job.cancel()  # what the SIGINT handler in main() does  # type: ignore[union-attr]

        with pytest.raises(asyncio.CancelledError):
            await rotate_keys.run_job(client, action="rotate", state_path=state,
                                      secrets_path=secrets, concurrency=10, console=quiet(),
                                      on_key_done=ctrl_c_after_100)
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        first = len(state.read_text().splitlines())
        # the keys in flight at Ctrl-C were finished and recorded, none started after
        assert 100 <= first <= 110
        assert fake.count("route:rotate") == first

        console = quiet()
        summary = await rotate_keys.run_job(client, action="rotate", state_path=state,
                                            secrets_path=secrets, concurrency=10,
                                            console=console)
    assert not summary.interrupted and not summary.failed
    assert (summary.total, summary.already_done, summary.done) == (300, first, 300 - first)
    assert summary.max_in_flight == 10
    assert fake.count("route:rotate") == 300  # each key rotated exactly once over both runs
    assert fake.count("status:429") == 0      # 300 calls at 60/min: the limiter paced them
    saved = [json.loads(line) for line in secrets.read_text().splitlines()]
    assert {s["id"]: s["api_secret"] for s in saved} == {
        k.id: k.api_secret for k in fake.keys.values()}  # every new secret kept, all current
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    assert "done in this run" in console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.looptime
async def test_batch_audit_reports_findings_and_retries_failures(tmp_path: Path) -> None:
    fake = fake_with_keys(120)
    state = tmp_path / "state.jsonl"
    fake.set_faults("get", error_rate=0.2, error_statuses=(403,))  # not retried
    async with client_for(fake) as client:
        first = await rotate_keys.run_job(client, action="audit", state_path=state,
                                          concurrency=4, console=quiet())
        fake.clear_faults()
        second = await rotate_keys.run_job(client, action="audit", state_path=state,
                                           concurrency=4, console=quiet())
    assert first.failed and first.done + len(first.failed) == 120
    assert second.already_done == first.done and second.done == len(first.failed)
    assert not second.failed
    # keys added by the fake were never used: every one is a finding, reported once
    assert len(first.findings) + len(second.findings) == 120
    assert {issue for _, _, issue in first.findings} == {"never used"}


async def test_batch_rotate_needs_somewhere_to_put_secrets(tmp_path: Path) -> None:
    async with client_for(FakeYativo()) as client:
        with pytest.raises(ValueError, match="secrets_path"):
            await rotate_keys.run_job(client, action="rotate", state_path=tmp_path / "s")


# -- the bot ------------------------------------------------------------------------------


@pytest.mark.looptime
async def test_bot_lives_through_expiry_budget_exhaustion_and_rotation(tmp_path: Path) -> None:
    hours = 5.5
    limits = [y.RateLimit(60, 60.0), y.RateLimit(100, 3600.0)]  # a small hourly budget
    fake = FakeYativo(rate_limits=limits, token_ttl=300)  # tokens die every 5 minutes
    fake.set_faults("list", error_rate=0.02, error_statuses=(503,))  # and the network blips
    key = fake.add_key("bot", ["read"])
    first_secret = key.api_secret
    credentials = tmp_path / "bot.json"
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.call_later(hours * 3600, stop.set)
    async with y.YativoClient(api_key=key.api_key, api_secret=first_secret,
                              two_factor=fake.totp_secret, transport=fake.transport(),
                              rate_limits=limits, max_wait=30.0) as client:
        stats = await bot.run_bot(client, key_id=key.id, stop=stop, interval=20.0,
                                  rotate_every=2 * 3600.0,
                                  on_rotated=bot.save_credentials(credentials))
    assert 0.99 * hours * 3600 <= loop.time() <= hours * 3600 + 60  # ran the whole time

    # token expiry: dozens of exchanges, never a 401 (refreshed ahead of expiry)
    assert fake.token_exchanges >= 30
    assert fake.count("status:401") == 0
    # budget exhaustion: 180 ticks an hour wanted, 100 calls an hour allowed; the bot slept
    # on the client's RateLimitError and the server never had to say 429
    assert stats.rate_limited > 0
    assert fake.count("status:429") == 0
    assert stats.ok > 0.8 * 100 * hours - fake.token_exchanges - 10
    # credential rotation: twice, adopted in place, stored, and the bot kept working after
    assert stats.rotations == 2
    saved = json.loads(credentials.read_text())
    assert saved["api_secret"] == fake.keys[key.id].api_secret != first_secret
    last_rotation = max(e.time for e in fake.journal if e.route == "rotate")
    assert any(e.route == "list" and e.status == 200 and e.time > last_rotation
               for e in fake.journal)
