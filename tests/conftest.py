from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import yativo_async as y
from yativo_async.testing import FakeYativo, fix_aioresponses

fix_aioresponses()  # aiohttp 3.14 vs aioresponses 0.7 (pnuckowski/aioresponses#289)


def _patch_looptime_issue35() -> None:
    """looptime 0.8+ needs Python 3.11, so Python 3.10 gets looptime 0.7, which can freeze
    forever on a sleep shorter than one clock tick (nolar/looptime#35, fixed in 0.8): the
    virtual clock moves by round(timeout / tick) = 0 ticks while asyncio waits for the full
    timeout. Round such a timeout up to one tick, as 0.8 does, so the loop reaches its target."""
    try:
        from looptime._internal import loops
    except ImportError:  # looptime changed its layout: then it is a version with the fix
        return
    cls: Any = loops.LoopTimeEventLoop
    original = cls._LoopTimeEventLoop__sync

    def sync(self: Any, timeout: float | None, step: int | None = None,
             end: int | None = None) -> Any:
        tick = 1 / self._LoopTimeEventLoop__resolution_reciprocal
        if timeout is not None and 0 < timeout < tick:
            timeout = tick
        return original(self, timeout, step, end)

    cls._LoopTimeEventLoop__sync = sync


if sys.version_info < (3, 11):
    from importlib.metadata import version

    if tuple(int(p) for p in version("looptime").split(".")[:2]) < (0, 8):
        _patch_looptime_issue35()


# -- the event loop: asyncio's default, or uvloop (`--loop uvloop` or YATIVO_TEST_LOOP=uvloop) -----


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--loop", choices=("asyncio", "uvloop"), default=os.environ.get("YATIVO_TEST_LOOP", "asyncio"),
        help="event loop the async tests run on (uvloop: users' web servers often run on it; "
             "virtual-time tests need asyncio's loop and are skipped under uvloop)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"event loop: {config.getoption('--loop')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--loop") != "uvloop":
        return
    # looptime patches asyncio.BaseEventLoop subclasses only; on uvloop these tests would run
    # in real time (minutes), so they run on asyncio's loop in the other sessions instead.
    skip = pytest.mark.skip(reason="virtual time (looptime) needs asyncio's own event loop")
    for item in items:
        if item.get_closest_marker("looptime") is not None:
            item.add_marker(skip)


class _UvloopFactory:
    """Registered only under `--loop uvloop`: pytest-asyncio (>= 1.4) makes every test's loop
    with the factories this hook returns."""

    @pytest.hookimpl
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
        import uvloop

        return {"uvloop": uvloop.new_event_loop}


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--loop") == "uvloop":
        config.pluginmanager.register(_UvloopFactory(), "yativo-uvloop")

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
