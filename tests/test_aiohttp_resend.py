"""aiohttp's hidden resend stays off.

When a pooled keep-alive connection drops, aiohttp resends an idempotent request once on a new
connection, by itself. That second send would reach the server without a rate-limit slot, so
`AiohttpTransport` switches it off through a private attribute (no public switch exists). These
tests fail the day aiohttp renames the attribute or the switch stops working.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

import yativo_async as y


async def test_the_private_switch_still_exists() -> None:
    async with aiohttp.ClientSession() as session:
        assert hasattr(session, "_retry_connection"), (
            "aiohttp renamed ClientSession._retry_connection: AiohttpTransport can no longer "
            "turn off aiohttp's own resend; find the new switch"
        )
        assert session._retry_connection is True  # on by default: that is why we switch it off


async def _drop_the_second_request_server(seen: list[bytes]) -> tuple[asyncio.Server, int]:
    """Answer the first request of each connection; read the second, then hang up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(head.split(b"\r\n", 1)[0])
                if answered:
                    break  # a dropped keep-alive connection, as a server restart makes it
                body = b'{"data": []}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


async def test_a_dropped_pooled_connection_is_not_resent_behind_our_back() -> None:
    seen: list[bytes] = []
    server, port = await _drop_the_second_request_server(seen)
    transport = y.AiohttpTransport()
    url = f"http://127.0.0.1:{port}/api/apikey/list"
    try:
        first = await transport.send(y.Request(method="GET", url=url, timeout=5.0))
        assert first.status == 200
        with pytest.raises(y.APIConnectionError):
            await transport.send(y.Request(method="GET", url=url, timeout=5.0))
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()
    # Two sends, two requests at the server: aiohttp did not quietly send a third.
    assert len(seen) == 2, seen


async def test_plain_aiohttp_would_resend() -> None:
    """The peer: without the switch the same server sees three requests for two sends."""
    seen: list[bytes] = []
    server, port = await _drop_the_second_request_server(seen)
    url = f"http://127.0.0.1:{port}/api/apikey/list"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                await resp.read()
            async with session.get(url) as resp:  # resent on a new connection, answered there
                assert resp.status == 200
    finally:
        server.close()
        await server.wait_closed()
    assert len(seen) == 3, seen
