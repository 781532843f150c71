"""Transport behaviour: aioresponses, loops, closing, error mapping, no leaks."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from aioresponses import aioresponses

import yativo_async as y
from yativo_async.testing import FakeYativo

from .conftest import sample


async def test_aioresponses_mocks_default_transport() -> None:
    with aioresponses() as mocked:
        mocked.get("https://crypto-api.yativo.com/api/apikey/list",
                   body=sample("doc002_list.json"), content_type="application/json")
        async with y.YativoClient(access_token="tok") as client:
            keys = await client.api_keys.list()
    assert keys[0].id == "key_01abc123"


async def test_aioresponses_error_status_maps() -> None:
    with aioresponses() as mocked:
        mocked.get("https://crypto-api.yativo.com/api/apikey/key_x", status=404,
                   payload={"success": False, "message": "API key not found"})
        async with y.YativoClient(access_token="tok") as client:
            with pytest.raises(y.NotFoundError, match="API key not found"):
                await client.api_keys.get("key_x")


def test_client_survives_two_asyncio_runs() -> None:
    port = _free_port()
    client = y.YativoClient(access_token="yat_user_fixed", base_url=f"http://127.0.0.1:{port}/api")

    async def serve_and_call() -> int:
        async with FakeYativo(port=port, access_token="yat_user_fixed"):
            return len(await client.api_keys.list())

    assert asyncio.run(serve_and_call()) == 0
    assert asyncio.run(serve_and_call()) == 0

    async def close() -> None:
        await client.aclose()

    asyncio.run(close())


async def test_closed_client_raises_clearly(fake: FakeYativo) -> None:
    client = y.YativoClient(access_token=fake.access_token, transport=fake.transport())
    await client.aclose()
    await client.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await client.api_keys.list()
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass


async def test_user_session_and_transport_are_not_closed() -> None:
    async with FakeYativo() as fake, aiohttp.ClientSession() as session:
        transport = y.AiohttpTransport(session=session)
        async with y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                  transport=transport) as client:
            await client.api_keys.list()
        assert not session.closed
        async with y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                  transport=transport) as client:
            await client.api_keys.list()  # the transport is still usable
        await transport.aclose()
        assert not session.closed  # the session was the user's


async def test_one_pool_for_concurrent_calls() -> None:
    async with FakeYativo(rate_limits=[]) as fake:
        async with y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                  rate_limits=[]) as client:
            await asyncio.gather(*(client.api_keys.list() for _ in range(50)))
            transport = client._transport
            assert isinstance(transport, y.AiohttpTransport)
            session = transport._session
            assert session is not None
            await asyncio.gather(*(client.api_keys.list() for _ in range(50)))
            assert transport._session is session


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("make", [lambda: None, y.HttpxTransport])
async def test_connection_refused_is_not_sent(make) -> None:  # type: ignore[no-untyped-def]
    transport = make()
    async with y.YativoClient(access_token="t", base_url=f"http://127.0.0.1:{_free_port()}/api",
                              transport=transport, retry=y.RetryPolicy.none()) as client:
        with pytest.raises(y.APIConnectionError) as info:
            await client.api_keys.list()
    assert info.value.maybe_sent is False
    assert info.value.__cause__ is not None
    if transport is not None:
        await transport.aclose()


@pytest.mark.parametrize("make", [lambda: None, y.HttpxTransport])
async def test_timeout_maps_to_api_timeout(make) -> None:  # type: ignore[no-untyped-def]
    transport = make()
    async with FakeYativo() as fake:
        fake.set_faults(latency=3600.0)  # never answers: no race with the 0.2 s timeout
        async with y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                  transport=transport, timeout=0.2,
                                  retry=y.RetryPolicy.none()) as client:
            with pytest.raises(y.APITimeoutError):
                await client.api_keys.list()
    if transport is not None:
        await transport.aclose()


async def test_mock_transport_handler_checks() -> None:
    with pytest.raises(TypeError):
        y.MockTransport("nope")  # type: ignore[arg-type]
    transport = y.MockTransport(lambda r: "not a response")  # type: ignore[arg-type,return-value]
    async with y.YativoClient(access_token="t", transport=transport) as client:
        with pytest.raises(TypeError, match="Response"):
            await client.api_keys.list()


async def test_mock_transport_sees_request_values() -> None:
    seen: list[y.Request] = []

    def handler(request: y.Request) -> y.Response:
        seen.append(request)
        return y.Response(status=200, body=json.dumps({"keys": []}).encode())

    async with y.YativoClient(access_token="tok", transport=y.MockTransport(handler),
                              timeout=12.5) as client:
        assert await client.api_keys.list() == []
    (request,) = seen
    assert request.method == "GET" and request.url.endswith("/api/apikey/list")
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.timeout == 12.5
    assert "tok" not in repr(request)
