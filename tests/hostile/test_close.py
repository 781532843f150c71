"""Issue 10, defect 4: ``aclose()`` ends every pending call promptly with one clear error.

Calls queued on the limiter, calls in flight on a server that never answers, calls waiting
for a token exchange that never answers: each gets `ClientClosedError` (an
`APIConnectionError`) within a moment of ``aclose()``, never a ``CancelledError`` the
caller did not ask for, never a raw ``RuntimeError``. Before the fix queued calls stayed
pending and woke into ``RuntimeError("AiohttpTransport is closed")``, in-flight ones got
``CancelledError``, and exchange-mode ones ``RuntimeError("the token provider is closed")``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import web

import yativo_async as y

from .conftest import API_KEY, API_SECRET, assert_no_secret, bounded, client_for
from .servers import WebServer

#: how long after aclose() every pending call must have ended
PROMPT = 1.0


class Stall:
    """A server that answers ``answered`` requests at once and holds every later one
    forever; ``arrived`` is set when ``wait_for`` requests have reached it."""

    def __init__(self, *, answered: int = 0, wait_for: int = 1) -> None:
        self.answered = answered
        self.count = 0
        self.wait_for = wait_for
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def handler(self, request: web.Request) -> web.Response:
        self.count += 1
        if self.count >= self.wait_for:
            self.arrived.set()
        if self.count > self.answered:
            await self.release.wait()
        if request.path.endswith("/token"):
            return web.json_response({"access_token": "tok_from_exchange", "expires_in": 3600,
                                      "token_type": "Bearer"})
        return web.json_response({"keys": []})


async def _close_and_collect(client: y.YativoClient, tasks: list[asyncio.Task[Any]]
                             ) -> list[Any]:
    t0 = time.monotonic()
    await bounded(client.aclose(), PROMPT)
    results = await bounded(asyncio.gather(*tasks, return_exceptions=True), PROMPT)
    assert time.monotonic() - t0 < PROMPT
    return list(results)


def _assert_all_closed(results: list[Any]) -> None:
    for result in results:
        assert isinstance(result, y.ClientClosedError), repr(result)
        assert isinstance(result, y.APIConnectionError)
        assert "closed" in str(result)
        assert_no_secret(result)


async def test_calls_in_flight_get_client_closed_error(kind: str) -> None:
    stall = Stall(wait_for=3)
    async with WebServer(stall.handler) as server, client_for(server.base_url, kind) as client:
        tasks = [asyncio.create_task(client.api_keys.list()) for _ in range(3)]
        await bounded(stall.arrived.wait())
        results = await _close_and_collect(client, tasks)
    _assert_all_closed(results)


async def test_calls_in_flight_without_a_limiter_get_client_closed_error(kind: str) -> None:
    stall = Stall(wait_for=3)
    async with WebServer(stall.handler) as server, \
            client_for(server.base_url, kind, rate_limits=[]) as client:
        tasks = [asyncio.create_task(client.api_keys.list()) for _ in range(3)]
        await bounded(stall.arrived.wait())
        results = await _close_and_collect(client, tasks)
    _assert_all_closed(results)


async def test_calls_queued_on_the_limiter_get_client_closed_error() -> None:
    # One request a minute: the first is answered, the next three wait ~60 s for budget.
    stall = Stall(answered=10)
    async with WebServer(stall.handler) as server, \
            client_for(server.base_url, rate_limits=[y.RateLimit(1, 60.0)]) as client:
        tasks = [asyncio.create_task(client.api_keys.list()) for _ in range(4)]
        first = await bounded(asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED))
        assert len(first[0]) == 1 and next(iter(first[0])).result() == []
        queued = [t for t in tasks if not t.done()]
        assert len(queued) == 3
        results = await _close_and_collect(client, queued)
    _assert_all_closed(results)
    assert stall.count == 1  # nothing queued was sent


async def test_calls_waiting_for_a_token_exchange_get_client_closed_error() -> None:
    stall = Stall()  # the token endpoint never answers
    async with WebServer(stall.handler) as server, \
            client_for(server.base_url, api_key=API_KEY, api_secret=API_SECRET) as client:
        tasks = [asyncio.create_task(client.api_keys.list()) for _ in range(3)]
        await bounded(stall.arrived.wait())
        results = await _close_and_collect(client, tasks)
    _assert_all_closed(results)
    assert stall.count == 1  # one exchange for all three (single flight)


async def test_a_call_after_close_gets_client_closed_error() -> None:
    stall = Stall(answered=10)
    async with WebServer(stall.handler) as server, client_for(server.base_url) as client:
        await client.aclose()
        with pytest.raises(y.ClientClosedError):
            await client.api_keys.list()
    assert stall.count == 0


async def test_the_callers_own_cancel_is_still_a_cancelled_error() -> None:
    stall = Stall()
    async with WebServer(stall.handler) as server, client_for(server.base_url) as client:
        task = asyncio.create_task(client.api_keys.list())
        await bounded(stall.arrived.wait())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(task)


async def test_aclose_with_a_drain_timeout_lets_running_calls_finish() -> None:
    stall = Stall()
    async with WebServer(stall.handler) as server, client_for(server.base_url) as client:
        task = asyncio.create_task(client.api_keys.list())
        await bounded(stall.arrived.wait())
        closer = asyncio.create_task(client.aclose(timeout=5.0))
        stall.release.set()  # the server answers while aclose() drains
        assert await bounded(task) == []
        await bounded(closer)
        with pytest.raises(y.ClientClosedError):
            await client.api_keys.list()
