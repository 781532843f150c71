"""Hostile servers on loopback, written from the API pages alone (never `FakeYativo`).

`RawServer` speaks HTTP/1.1 on bare asyncio streams, so a scenario can write anything: a
truncated body, a status aiohttp.web would refuse, headers and then silence, nothing at all.
`WebServer` is a plain ``aiohttp.web`` app with one catch-all handler, for the cases a real
server framework produces (redirects, HTML error pages, compressed bodies).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aiohttp import web

__all__ = [
    "RawRequest",
    "RawServer",
    "WebServer",
    "chunk",
    "gzip_bomb",
    "response_bytes",
]


@dataclass
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


#: a scenario answers one request by writing raw bytes; it returns True to keep the
#: connection open for the next request, False (or None) to close it
Scenario = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[bool | None]]


def response_bytes(
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    reason: str = "X",
    length: int | None = None,
) -> bytes:
    """One HTTP/1.1 response. ``length`` overrides Content-Length (to lie about it)."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    given = {k.lower() for k in (headers or {})}
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if "content-length" not in given and "transfer-encoding" not in given:
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


@lru_cache(maxsize=1)
def gzip_bomb(mib: int = 1024) -> bytes:
    """A valid gzip stream of about 1 KiB per MiB inflated: 1 MB that inflates to 1 GiB.

    Built in ~0.2 s instead of compressing a GiB: after a full flush, deflate output is
    byte-aligned and refers to nothing before it, so one compressed MiB of zeros repeats.
    """
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)
    return header + block * mib + final + trailer


@dataclass
class RawServer:
    """A loopback HTTP/1.1 server on asyncio streams; ``scenario`` answers every request."""

    scenario: Scenario
    requests: list[RawRequest] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = RawRequest(method, path, headers, body)
                self.requests.append(request)
                keep = await self.scenario(request, writer)
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class WebServer:
    """A plain ``aiohttp.web`` server on loopback; ``handler`` answers every path."""

    handler: WebHandler
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            (request.method, request.path_qs, {k.lower(): v for k, v in request.headers.items()})
        )
        return await self.handler(request)

    async def __aenter__(self) -> WebServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
