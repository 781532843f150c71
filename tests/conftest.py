from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import yativo_async as y
from yativo_async.testing import FakeYativo, fix_aioresponses

fix_aioresponses()  # aiohttp 3.14 vs aioresponses 0.7 (pnuckowski/aioresponses#289)

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> y.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return y.Response(status=status, headers={k.lower(): v for k, v in (headers or {}).items()},
                      body=raw)


class Recorder:
    """A MockTransport handler that records requests and answers from a function."""

    def __init__(self, answer: Callable[[y.Request], Any]) -> None:
        self.requests: list[y.Request] = []
        self._answer = answer

    async def __call__(self, request: y.Request) -> y.Response:
        self.requests.append(request)
        result = self._answer(request)
        if hasattr(result, "__await__"):
            result = await result
        return result  # type: ignore[no-any-return]


@pytest.fixture
def fake() -> FakeYativo:
    """A FakeYativo reached in-process (no socket): safe under looptime."""
    return FakeYativo()


@pytest.fixture(params=["aiohttp", "httpx", "inprocess"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[FakeYativo, y.YativoClient]]:
    """The same client tests over every transport: aiohttp and httpx against the fake on a
    real loopback socket, and the in-process transport."""
    async with FakeYativo() as fake:
        transport: Any
        if request.param == "aiohttp":
            transport = None
        elif request.param == "httpx":
            transport = y.HttpxTransport()
        else:
            transport = fake.transport()
        client = y.YativoClient(
            access_token=fake.access_token,
            base_url=fake.base_url,
            two_factor=fake.totp_secret,
            transport=transport,
        )
        async with client:
            yield fake, client
        if transport is not None:
            await transport.aclose()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    """looptime's hook asks the policy for a loop even for sync tests, and on Python 3.11 that
    makes (and leaks) a new one. Hand it a loop of ours, closed afterwards."""
    import asyncio

    if pyfuncitem.get_closest_marker("asyncio") is not None:
        return (yield)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return (yield)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port, started for this test session."""
    import os
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.02)
        else:
            pytest.fail("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
