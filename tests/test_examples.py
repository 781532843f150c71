"""Every program in examples/ run against FakeYativo, as a user would run it."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from rich.console import Console

import yativo_async as y
from examples import aiohttp_app, fastapi_app
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
