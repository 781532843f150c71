"""The benchmark server: a bare aiohttp app in its own process on loopback.

``GET /k{n}/apikey/list`` answers a list of ``n`` keys (the same precomputed bytes every
time, so the server costs as little as it can); the client points ``base_url`` at
``http://127.0.0.1:{port}/k{n}``. It prints ``{"port": ...}`` on stdout once it listens.

Run alone:  python -m benchmarks._server
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from typing import Any

from aiohttp import web

from ._payloads import key_list_body


def _app() -> web.Application:
    bodies: dict[int, bytes] = {}

    async def handle(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        body = bodies.get(n)
        if body is None:
            body = bodies[n] = key_list_body(n)
        return web.Response(body=body, content_type="application/json")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.Event().wait()  # never answers: requests pile up behind it
        raise AssertionError

    app = web.Application()
    app.router.add_get("/k{n:\\d+}/apikey/list", handle)
    app.router.add_get("/hang", hang)
    return app


async def _serve() -> None:
    runner = web.AppRunner(_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"port": port}), flush=True)
    await asyncio.Event().wait()


class Server:
    """Starts the server process; ``url(n)`` is a base_url serving ``n`` keys."""

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server"], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = json.loads(self.proc.stdout.readline())["port"]
        return self

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.port}/k{n}"

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())
