"""Shared pieces of the hostile suite: a client pointed at a hostile server, and the secrets
it carries (so every test can check they never show)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pyotp
import pytest

import yativo_async as y

T = TypeVar("T")

#: the caller's bearer token and TOTP secret: must never appear in any error text
TOKEN = "tok_hostile_7Qx9SECRETvalue"
TOTP = pyotp.random_base32()
API_KEY = "yvk_live_hostile"
API_SECRET = "yvs_live_hostileSECRET42"

#: a hostile case that is not ended within this is a failure (on the old code, the hints
#: froze the client and the awaits below never returned: the bound turns that into a failure)
BOUND = 5.0

#: retries quick enough for a test, and a ``max_retry_after`` that makes "capped" visible
FAST_RETRY = y.RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05,
                           max_retry_after=0.3)


@pytest.fixture(params=["aiohttp", "httpx"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def client_for(base_url: str, kind: str = "aiohttp", **kwargs: Any
                     ) -> AsyncIterator[y.YativoClient]:
    """A client on ``kind``'s transport; closes the transport it made."""
    transport = y.HttpxTransport() if kind == "httpx" else None
    kwargs.setdefault("access_token", TOKEN)
    kwargs.setdefault("two_factor", TOTP)
    kwargs.setdefault("retry", FAST_RETRY)
    if "api_key" in kwargs:
        kwargs.pop("access_token")
    try:
        async with y.YativoClient(base_url=base_url, transport=transport, **kwargs) as client:
            yield client
    finally:
        if transport is not None:
            await transport.aclose()


async def bounded(awaitable: Awaitable[T], seconds: float = BOUND) -> T:
    """``awaitable``, failing the test (not hanging it) if it outlives ``seconds``."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        pytest.fail(f"not ended within {seconds} s: the client is stalled")


def assert_no_secret(exc: BaseException) -> None:
    """No secret of the client in the exception's text, body, or anything chained to it."""
    texts = []
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), str(getattr(seen, "body", "") or "")]
        seen = seen.__cause__ or seen.__context__
    blob = "\n".join(texts)
    # (not the current 6-digit code: any six digits in a message could match it by chance)
    for secret in (TOKEN, API_SECRET, TOTP):
        assert secret not in blob
