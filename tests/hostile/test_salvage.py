"""A new key's secret is never lost to an answer malformed elsewhere, and never shown.

A create, generate or rotate answer is the only copy of the new key's secret: however the
answer is broken (one byte that is not UTF-8, bytes after the JSON, a nesting too deep, a
body past ``max_response_bytes``, a ``Content-Length`` shorter than the body), the error
carries it (`ResponseDecodeError.api_secret`), and nothing chained to the error shows it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

import yativo_async as y

from .conftest import API_KEY, API_SECRET, bounded, client_for
from .servers import RawRequest, RawServer, response_bytes

NEW_SECRET = "yvs_live_NEWKEYsecret_0123456789"
CREATED = {"id": "key_new", "name": "n", "api_key": "yvk_live_new", "permissions": ["read"],
           "created_at": "2026-03-26T10:00:00Z", "api_secret": NEW_SECRET}
JSON = {"Content-Type": "application/json"}


def _chain_text(exc: BaseException) -> str:
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), repr(getattr(seen, "object", ""))]
        seen = seen.__cause__ or seen.__context__
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    log = logging.getLogger("test_salvage")
    log.addHandler(handler)
    try:
        try:
            raise exc
        except type(exc):
            log.exception("create failed")
    finally:
        log.removeHandler(handler)
    return "\n".join(texts) + out.getvalue()


def _body(broken: str) -> bytes:
    plain = json.dumps(CREATED).encode()
    if broken == "latin-1 byte":
        return plain.replace(b'"name": "n"', b'"name": "caf\xe9"')
    if broken == "bytes after the JSON":
        return plain + b"\r\ngarbage"
    if broken == "nested too deeply":
        deep = b"[" * 100_000 + b"]" * 100_000
        return plain[:-1] + b', "extra": ' + deep + b"}"
    if broken == "past the cap":
        return plain[:-1] + b', "padding": "' + b"x" * 70_000 + b'"}'
    raise AssertionError(broken)


@pytest.mark.parametrize("broken", ["latin-1 byte", "bytes after the JSON",
                                    "nested too deeply", "past the cap"])
async def test_a_create_answer_broken_elsewhere_keeps_the_new_secret(
    kind: str, broken: str
) -> None:
    body = _body(broken)

    async def answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(response_bytes(201, body, JSON))
        return True

    async with RawServer(answer) as server, client_for(
        server.base_url, kind, max_response_bytes=65_536
    ) as client:
        with pytest.raises(y.ResponseDecodeError) as info:
            await bounded(client.api_keys.create(name="n", permissions=["read"]))
    assert len(server.requests) == 1
    assert info.value.api_secret is not None
    assert info.value.api_secret.get_secret_value() == NEW_SECRET
    assert info.value.key_id == "key_new"
    assert NEW_SECRET not in _chain_text(info.value)


async def test_a_create_answer_past_a_short_content_length_keeps_the_secret(kind: str) -> None:
    # The server says the body is shorter than it is: aiohttp reads the rest as the next
    # answer's status line, and its error quoted those bytes (the new secret) in every
    # traceback, while the caller got OutcomeUnknownError with no secret. httpx reads a
    # cut body (the secret is past the cut): a decode error, and the secret is not shown.
    body = json.dumps(CREATED).encode()
    cut = body.index(b'"api_secret"') - 2

    async def answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(response_bytes(201, body, JSON, length=cut))
        return True

    async with RawServer(answer) as server, client_for(server.base_url, kind) as client:
        with pytest.raises(y.YativoError) as info:
            await bounded(client.api_keys.create(name="n", permissions=["read"]))
    assert len(server.requests) == 1  # never sent twice
    assert NEW_SECRET not in _chain_text(info.value)
    if kind == "aiohttp":
        assert isinstance(info.value, y.ResponseDecodeError)
        assert info.value.api_secret is not None
        assert info.value.api_secret.get_secret_value() == NEW_SECRET


async def test_an_encoding_the_client_cannot_undo_is_a_decode_error_not_a_fault(
    kind: str,
) -> None:
    # aiohttp without Brotli: it was a connection error, retried (a list sent 4 times) and
    # an OutcomeUnknownError on create.
    async def answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(response_bytes(200, b"\x8b\x02\x80{}\x03", {**JSON,
                                                                 "Content-Encoding": "br"}))
        return True

    async with RawServer(answer) as server, client_for(server.base_url, kind) as client:
        with pytest.raises(y.ResponseDecodeError):
            await bounded(client.api_keys.list())
        with pytest.raises(y.ResponseDecodeError):
            await bounded(client.api_keys.create(name="n", permissions=["read"]))
    assert len(server.requests) == 2


def _rotated(**fields: Any) -> bytes:
    return json.dumps({"id": "key_1", "api_key": API_KEY, "api_secret": NEW_SECRET,
                       "rotated_at": "2026-03-26T10:00:00Z", **fields}).encode()


@pytest.mark.parametrize(("answer_body", "call", "adopted"), [
    (_rotated(api_secret="   "), lambda c: c.api_keys.rotate("key_1"), False),
    (_rotated(api_key="  "), lambda c: c.api_keys.rotate("key_1", adopt=True), True),
], ids=["blank secret", "blank api_key"])
async def test_a_rotate_answer_that_cannot_be_adopted_is_a_decode_error(
    kind: str, answer_body: bytes, call: Callable[[y.YativoClient], Any], adopted: bool,
) -> None:
    # The client's own key was rotated: the answer's values went to rotate_credentials,
    # whose ValueError ("api_secret must not be empty or blank") reached the caller, and the
    # new secret with it was lost. A blank api_key names no key: the key keeps its own.
    token = json.dumps({"access_token": "tok_" + "a" * 20, "expires_in": 3600}).encode()

    async def answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        body = token if request.path.endswith("/token") else answer_body
        writer.write(response_bytes(200, body, JSON))
        return True

    async with RawServer(answer) as server, client_for(
        server.base_url, kind, api_key=API_KEY, api_secret=API_SECRET
    ) as client:
        if adopted:
            rotated = await bounded(call(client))
            assert rotated.api_secret.get_secret_value() == NEW_SECRET
            provider = client.token_provider
            assert isinstance(provider, y.ExchangeTokenProvider)
            assert provider.api_key == API_KEY  # adopted under the key's own api_key
            return
        with pytest.raises(y.ResponseDecodeError, match="rotated") as info:
            await bounded(call(client))
    assert NEW_SECRET not in _chain_text(info.value)
    assert info.value.api_secret is None  # (blank: nothing to keep)


async def test_a_token_lifetime_no_float_holds_is_capped_not_a_failure(kind: str) -> None:
    # expires_in of 400 digits: float() overflowed after the exchange, outside the failure
    # backoff, so every call made a fresh exchange and failed.
    token = ('{"access_token": "tok_' + "b" * 20 + '", "expires_in": 1' + "0" * 400 + "}")

    async def answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        body = token.encode() if request.path.endswith("/token") else b'{"keys": []}'
        writer.write(response_bytes(200, body, JSON))
        return True

    async with RawServer(answer) as server, client_for(
        server.base_url, kind, api_key=API_KEY, api_secret=API_SECRET
    ) as client:
        for _ in range(3):
            assert await bounded(client.api_keys.list()) == []
    assert [r.path.endswith("/token") for r in server.requests] == [True, False, False, False]


async def test_a_second_answer_to_one_request_is_never_the_next_calls_answer(kind: str) -> None:
    # httpx pooled the connection with the extra answer buffered in it: the next call
    # returned that stale answer (another key) as its own.
    stale = json.dumps({"id": "STALE", "name": "stale", "permissions": []}).encode()

    async def answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        if request.path.endswith("/apikey/list"):
            writer.write(response_bytes(200, b'{"keys": []}', JSON)
                         + response_bytes(200, stale, JSON))
        else:
            real = json.dumps({"id": request.path.rsplit("/", 1)[1], "name": "real",
                               "permissions": ["read"]}).encode()
            writer.write(response_bytes(200, real, JSON))
        return True

    async with RawServer(answer) as server, client_for(server.base_url, kind) as client:
        assert await bounded(client.api_keys.list()) == []
        key = await bounded(client.api_keys.get("key_9"))
    assert (key.id, key.name) == ("key_9", "real")
