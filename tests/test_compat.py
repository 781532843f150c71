"""`fix_aioresponses()`: aioresponses on aiohttp 3.14, a user's own response_class, and the
shim turning itself off where aioresponses already works (rules in testing/_compat.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses
from aioresponses.core import RequestMatch

import yativo_async as y
from yativo_async.testing import _compat, fix_aioresponses

URL = "https://mocked.invalid/api/apikey/list"
STREAM_WRITER_REQUIRED = "stream_writer" in ClientResponse.__init__.__code__.co_varnames


class TaggedResponse(ClientResponse):
    """A user's response class with behaviour of its own (aioresponses' documented
    ``response_class=`` feature)."""

    async def json(self, *args: Any, **kwargs: Any) -> Any:
        data = await super().json(*args, **kwargs)
        return {"tagged": True, **data}


@pytest.fixture
def unpatched() -> Iterator[None]:
    """aioresponses as installed, without the shim conftest applied (restored afterwards)."""
    current = RequestMatch._build_response
    original = getattr(current, "__wrapped__", current)
    RequestMatch._build_response = original  # type: ignore[method-assign]
    try:
        yield
    finally:
        RequestMatch._build_response = current  # type: ignore[method-assign]


async def test_custom_response_class_is_built_and_keeps_its_behaviour() -> None:
    with aioresponses() as mocked:
        mocked.get(URL, payload={"keys": []}, response_class=TaggedResponse)
        async with aiohttp.ClientSession() as session:
            response = await session.get(URL)
            assert type(response) is TaggedResponse  # the user's class itself, no subclass
            assert await response.json() == {"tagged": True, "keys": []}


async def test_custom_response_class_from_a_callback() -> None:
    from aioresponses import CallbackResult

    def answer(url: Any, **kwargs: Any) -> CallbackResult:
        return CallbackResult(payload={"keys": []}, response_class=TaggedResponse)

    with aioresponses() as mocked:
        mocked.get(URL, callback=answer)
        async with aiohttp.ClientSession() as session:
            response = await session.get(URL)
            assert type(response) is TaggedResponse


async def test_the_sdk_default_transport_through_a_custom_response_class() -> None:
    with aioresponses() as mocked:
        mocked.get(URL, payload={"keys": []}, response_class=TaggedResponse)
        async with y.YativoClient(access_token="t", base_url="https://mocked.invalid/api",
                                  rate_limits=[]) as client:
            assert await client.api_keys.list() == []


@pytest.mark.skipif(not STREAM_WRITER_REQUIRED, reason="aiohttp < 3.14 needs no shim")
@pytest.mark.usefixtures("unpatched")
async def test_unpatched_aioresponses_fails_and_the_shim_fixes_it() -> None:
    async with aiohttp.ClientSession() as session:
        with aioresponses() as mocked:
            mocked.get(URL, response_class=TaggedResponse)
            with pytest.raises(TypeError, match="stream_writer"):
                await session.get(URL)
        assert fix_aioresponses() is True
        assert fix_aioresponses() is False  # rule 3: once
        with aioresponses() as mocked:
            mocked.get(URL, payload={"keys": []}, response_class=TaggedResponse)
            mocked.get(URL, payload={"keys": []})
            assert type(await session.get(URL)) is TaggedResponse
            assert type(await session.get(URL)) is ClientResponse


@pytest.mark.usefixtures("unpatched")
def test_no_op_once_aioresponses_builds_responses_itself() -> None:
    """Rule 1: an aioresponses that already passes ``stream_writer`` (as upstream PR #288
    does) is left alone: detected by behaviour, not by a version string."""

    def fixed_upstream(self: Any, url: Any, *, response_class: Any = None, **kwargs: Any) -> Any:
        return object()  # builds without a TypeError, whatever class it is given

    RequestMatch._build_response = fixed_upstream  # type: ignore[method-assign,assignment]
    assert fix_aioresponses() is False
    assert RequestMatch._build_response is fixed_upstream


def test_no_op_without_aioresponses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "aioresponses.core", None)
    assert fix_aioresponses() is False


def test_docstring_names_the_upstream_issue_and_says_temporary() -> None:
    for doc in (_compat.__doc__, fix_aioresponses.__doc__):
        assert doc is not None
        assert "pnuckowski/aioresponses#289" in doc
        assert "temporary" in doc.lower()
