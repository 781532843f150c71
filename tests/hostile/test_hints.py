"""Issue 10, defect 1: one hostile rate-limit header must not freeze the client.

A real ``aiohttp.web`` server answers the first request with a hostile hint, every later
one with the documented list answer. The client keeps ``max_retry_after=0.3`` s: a pause
the server asks for is never longer than that, so the next call goes through at once.
Before the fix each of these froze the limiter (``now + inf``, a day, 31 years) and the
second call never returned.
"""

from __future__ import annotations

import email.utils
import logging
import time

import pytest
from aiohttp import web

import yativo_async as y

from .conftest import FAST_RETRY, assert_no_secret, bounded, client_for
from .servers import WebServer

LIST = {"keys": []}


def first_answer(status: int, headers: dict[str, str]) -> WebServer:
    """A server whose first answer carries ``headers`` with ``status``; then plain 200s."""
    calls: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(1)
        if len(calls) == 1:
            body = {"success": False, "message": "Too many requests"} if status == 429 else LIST
            return web.json_response(body, status=status, headers=headers)
        return web.json_response(LIST)

    return WebServer(handler)


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


# Malformed hints are ignored (as if absent): the 429 is retried after a short default pause.
@pytest.mark.parametrize("value", ["inf"])  # nan, -5 ...: test_property
async def test_malformed_retry_after_is_ignored_and_the_call_retried(value: str) -> None:
    async with first_answer(429, {"Retry-After": value}) as server, \
            client_for(server.base_url, rate_limits=[y.RateLimit(100, 1.0)]) as client:
        t0 = time.monotonic()
        assert await bounded(client.api_keys.list()) == []
        assert await bounded(client.api_keys.list()) == []  # the client is not paused forever
        elapsed = time.monotonic() - t0
    assert len(server.requests) == 3  # 429, its retry, the second call
    assert elapsed < 2.5  # the default pause after a 429 without a usable hint is 1 s


# Finite but far-away hints: the call fails at once with the server's figure (never sleeping
# on it), the limiter pauses no longer than max_retry_after, and a warning names the hint.
@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({"Retry-After": "1000000000"}, 1e9),
        ({"Retry-After": "1e308"}, 1e308),
        # an HTTP date a day away: what a wall clock a day behind turns a 2 s hint into
        ({"Retry-After": _http_date(86_400)}, 86_400),
        # X-RateLimit-Reset as an epoch in milliseconds, in the year 5138
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99999999999999"}, 9.9e10),
        ({"X-RateLimit-Reset": "31536000"}, 31_536_000),  # a year, as delta seconds
    ],
    ids=["retry-after-1e9", "retry-after-1e308", "http-date-a-day-away",
         "reset-epoch-ms-year-5138", "reset-a-year"],
)
async def test_huge_pause_fails_fast_and_is_capped(
    headers: dict[str, str], said: float, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="yativo_async")
    async with first_answer(429, headers) as server, \
            client_for(server.base_url, rate_limits=[y.RateLimit(100, 1.0)]) as client:
        t0 = time.monotonic()
        with pytest.raises(y.RateLimitError) as info:
            await bounded(client.api_keys.list())
        assert time.monotonic() - t0 < 1.0  # not slept on
        assert info.value.status == 429
        assert info.value.retry_after is not None
        assert info.value.retry_after == pytest.approx(said, rel=0.01, abs=5)
        assert_no_secret(info.value)
        t1 = time.monotonic()
        assert await bounded(client.api_keys.list()) == []  # paused 0.3 s at most
        assert time.monotonic() - t1 < FAST_RETRY.max_retry_after + 1.0
    assert len(server.requests) == 2
    assert any("suspect rate-limit hint" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("policy", ['"k";q=2;w=1e9'])  # other spellings: test_property
async def test_a_window_longer_than_any_configured_is_capped(
    policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A 200 that announces "2 requests per 31 years": adopted as is, the third call would
    # wait 31 years. Capped at the longest configured window (0.5 s here), it waits 0.5 s.
    caplog.set_level(logging.WARNING, logger="yativo_async")
    async with first_answer(200, {"RateLimit-Policy": policy}) as server, \
            client_for(server.base_url, rate_limits=[y.RateLimit(100, 0.5)]) as client:
        t0 = time.monotonic()
        for _ in range(4):
            assert await bounded(client.api_keys.list()) == []
        elapsed = time.monotonic() - t0
        assert max(rl.period for rl in client.rate_limits) <= 0.5
    assert len(server.requests) == 4
    assert elapsed < 3.0
    assert any("window capped" in r.getMessage() for r in caplog.records)


async def test_huge_reset_on_a_200_does_not_stall_later_calls() -> None:
    # "0 left, back in 31 years" on a success: the client's own view waits at most the
    # capped pause, not 31 years.
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0",
               "X-RateLimit-Reset": "31536000"}
    async with first_answer(200, headers) as server, \
            client_for(server.base_url, rate_limits=[y.RateLimit(100, 1.0)]) as client:
        t0 = time.monotonic()
        assert await bounded(client.api_keys.list()) == []
        assert await bounded(client.api_keys.list()) == []
        assert time.monotonic() - t0 < FAST_RETRY.max_retry_after + 1.5
