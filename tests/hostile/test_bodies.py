"""Issue 10, defects 2 and 3, and slowloris: hostile bodies end in one clear `YativoError`,
bounded in time and in memory.

* 200,000-deep JSON (``[[[[...``) on a 2xx and on a 4xx: `ResponseDecodeError` /
  `BadRequestError`, never a raw ``RecursionError``.
* An endless chunked body, a 1 MB gzip bomb that inflates to 1 GiB, a Content-Length of
  100 MB: `ResponseTooLargeError` (a `ResponseDecodeError`) at ``max_response_bytes``, on
  every transport (aiohttp, httpx, `MockTransport`, the fake's in-process transport).
* A server that drips a byte every 50 ms forever (or sends headers and then nothing): the
  call ends with `APITimeoutError` at the request timeout, a deadline for the whole exchange.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

import pytest
from aiohttp import web

import yativo_async as y
from yativo_async.testing import FakeYativo

from .conftest import TOKEN, assert_no_secret, bounded, client_for
from .servers import RawRequest, RawServer, WebServer, chunk, gzip_bomb, response_bytes

DEEP = 200_000
CAP = 256 * 1024
#: for the memory measurement: aiohttp inflates in steps of its own (a few hundred KiB), so
#: the cap must be well above them for "bounded by the cap" to be what is measured
MEM_CAP = 4 << 20



def deep_json(status: int, wrap: str = "") -> WebServer:
    body = "[" * DEEP + "]" * DEEP
    if wrap:  # nested inside a field the error extraction reads
        body = f'{{"{wrap}": {body}}}'

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type="application/json")

    return WebServer(handler)


async def test_deep_json_on_a_2xx_is_a_decode_error(kind: str) -> None:
    async with deep_json(200) as server, client_for(server.base_url, kind) as client:
        with pytest.raises(y.ResponseDecodeError) as info:
            await bounded(client.api_keys.list())
    assert info.value.status == 200
    assert "RecursionError" not in str(info.value)
    assert len(str(info.value)) < 2000


@pytest.mark.parametrize("wrap", ["", "message", "error", "detail"])
async def test_deep_json_on_a_4xx_is_the_status_error(wrap: str) -> None:
    async with deep_json(400, wrap) as server, client_for(server.base_url) as client:
        with pytest.raises(y.BadRequestError) as info:
            await bounded(client.api_keys.get("key_01abc123"))
    assert info.value.status == 400
    assert len(str(info.value)) < 2000
    assert info.value.body is None or len(info.value.body) <= 4096


async def test_deep_json_from_the_token_endpoint_is_a_decode_error() -> None:
    async with deep_json(200) as server, \
            client_for(server.base_url, api_key="yvk_live_h", api_secret="yvs_live_SECRETx",
                       retry=y.RetryPolicy.none()) as client:
        with pytest.raises(y.YativoError) as info:
            await bounded(client.api_keys.list())
    assert isinstance(info.value, y.ResponseDecodeError) or isinstance(
        info.value.__cause__, y.ResponseDecodeError)
    assert "yvs_live_SECRETx" not in str(info.value)


# -- size --------------------------------------------------------------------------------

async def _endless_chunked(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    piece = chunk(b'{"keys": [' * 4096)
    while True:  # until the client hangs up
        writer.write(piece)
        await writer.drain()


async def _gzip_bomb(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    bomb = memoryview(gzip_bomb())
    writer.write(response_bytes(200, b"", {"Content-Encoding": "gzip",
                                           "Content-Length": str(len(bomb)),
                                           "Content-Type": "application/json"}))
    for start in range(0, len(bomb), 65536):
        writer.write(bomb[start:start + 65536])
        await writer.drain()


async def _huge_length(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(response_bytes(404, b"", length=100_000_000))
    while True:
        writer.write(b" " * 65536)
        await writer.drain()


@pytest.mark.parametrize("scenario", [_endless_chunked, _gzip_bomb, _huge_length],
                         ids=["endless-chunked", "gzip-bomb", "content-length-100MB"])
async def test_oversize_body_ends_at_max_response_bytes(kind: str, scenario: Any) -> None:
    gzip_bomb()  # the server's, built before measuring the client
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        async with RawServer(scenario) as server, \
                client_for(server.base_url, kind, max_response_bytes=MEM_CAP) as client:
            t0 = time.monotonic()
            with pytest.raises(y.ResponseTooLargeError) as info:
                await bounded(client.api_keys.get("key_01abc123"))
            elapsed = time.monotonic() - t0
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert isinstance(info.value, y.ResponseDecodeError)
    assert info.value.limit == MEM_CAP
    assert f"max_response_bytes={MEM_CAP}" in str(info.value)
    assert elapsed < 3.0
    # the old code grew by ~1.1 GB on the bomb and without end on the others
    assert peak < 3 * MEM_CAP, f"the client grew by {peak} bytes"
    assert len(server.requests) == 1  # not retried: the same answer would come back
    assert_no_secret(info.value)


async def test_the_cap_holds_for_the_token_exchange_too() -> None:
    async with RawServer(_endless_chunked) as server, \
            client_for(server.base_url, api_key="yvk_live_h", api_secret="yvs_live_SECRETx",
                       max_response_bytes=CAP, retry=y.RetryPolicy.none()) as client:
        with pytest.raises(y.YativoError) as info:
            await bounded(client.api_keys.list())
    chain = [info.value, info.value.__cause__]
    assert any(isinstance(e, y.ResponseTooLargeError) for e in chain)


async def test_a_body_at_the_cap_is_accepted(kind: str) -> None:
    # {"keys": []} padded with spaces to exactly CAP bytes: one byte more would be refused.
    body = b'{"keys": []}'
    body += b" " * (CAP - len(body))

    async def exact(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with WebServer(exact) as server, \
            client_for(server.base_url, kind, max_response_bytes=CAP) as client:
        assert await bounded(client.api_keys.list()) == []


def _mock_big(request: y.Request) -> y.Response:
    return y.Response(status=200, body=b" " * (CAP + 1))


async def test_mock_transport_honours_the_clients_cap() -> None:
    async with y.YativoClient(access_token=TOKEN, transport=y.MockTransport(_mock_big),
                              max_response_bytes=CAP, rate_limits=[]) as client:
        with pytest.raises(y.ResponseTooLargeError) as info:
            await client.api_keys.list()
    assert info.value.limit == CAP


async def test_fake_transport_honours_the_clients_cap() -> None:
    fake = FakeYativo()
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                              two_factor=fake.totp_secret, max_response_bytes=20) as client:
        with pytest.raises(y.ResponseTooLargeError):
            await client.api_keys.create(name="a name long enough", permissions=["read"])


async def test_default_cap_is_a_few_mib() -> None:
    seen: list[y.Request] = []

    def record(request: y.Request) -> y.Response:
        seen.append(request)
        return y.Response(status=200, body=b'{"keys": []}')

    async with y.YativoClient(access_token=TOKEN, transport=y.MockTransport(record)) as client:
        await client.api_keys.list()
    assert seen[0].max_response_bytes == 8 * 1024 * 1024


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (-1, ValueError),
                                              (True, TypeError), ("1MB", TypeError),
                                              (1.5, TypeError), (None, TypeError)])
def test_max_response_bytes_is_validated(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_response_bytes must"):
        y.YativoClient(access_token=TOKEN, max_response_bytes=value)


# -- slowloris ---------------------------------------------------------------------------

async def _drip_body(request: RawRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(response_bytes(200, b"", length=1_000_000))
    while True:  # a byte every 50 ms: never silent long enough for a per-read timeout
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


# (silence before headers, headers then silence, dripped headers: per transport in
# tests/test_transports.py::test_rule3_request_timeout_bounds_the_whole_exchange)
@pytest.mark.parametrize("scenario", [_drip_body], ids=["drip-body"])
async def test_slowloris_ends_at_the_request_timeout(kind: str, scenario: Any) -> None:
    timeout = 0.3
    async with RawServer(scenario) as server, \
            client_for(server.base_url, kind, timeout=timeout,
                       retry=y.RetryPolicy.none()) as client:
        t0 = time.monotonic()
        with pytest.raises(y.APITimeoutError) as info:
            await bounded(client.api_keys.list())
        elapsed = time.monotonic() - t0
    assert timeout <= elapsed + 0.05
    assert elapsed < timeout + 1.0
    assert_no_secret(info.value)
