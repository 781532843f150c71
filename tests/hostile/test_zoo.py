"""Odd answers a proxy or a broken server gives, each ending in the one `YativoError` it
means, on both socket transports, within the timeout, with no secret in the text."""

from __future__ import annotations

import asyncio

import pytest

import yativo_async as y

from .conftest import TOKEN, assert_no_secret, bounded, client_for
from .servers import RawRequest, RawServer, response_bytes

JSON = {"Content-Type": "application/json"}

CASES: dict[str, tuple[bytes, type[y.YativoError]]] = {
    "malformed-json": (response_bytes(200, b'{"keys": [', JSON), y.ResponseDecodeError),
    "wrong-types": (response_bytes(200, b'{"keys": "none"}', JSON), y.ResponseDecodeError),
    "keys-of-numbers": (response_bytes(200, b'{"keys": [1, 2]}', JSON), y.ResponseDecodeError),
    "json-null": (response_bytes(200, b"null", JSON), y.ResponseDecodeError),
    "not-utf8": (response_bytes(200, b"\xff\xfe\x00", JSON), y.ResponseDecodeError),
    "204-no-body": (b"HTTP/1.1 204 No Content\r\n\r\n", y.ResponseDecodeError),
    "html-502-with-token": (
        response_bytes(502, f"<html><title>Bad gateway for {TOKEN}</title></html>".encode(),
                       {"Content-Type": "text/html"}), y.ServerError),
    "plain-text-401": (response_bytes(401, b"Unauthorized", {"Content-Type": "text/plain"}),
                       y.AuthenticationError),
    "status-600": (response_bytes(600, b"{}", JSON), y.APIStatusError),
    "status-999": (response_bytes(999, b"", JSON), y.APIStatusError),
    "truncated-body": (response_bytes(200, b'{"keys": []', JSON, length=1000),
                       y.APIConnectionError),
    "garbage-status-line": (b"HTTP/1.1 two hundred OK\r\n\r\n", y.APIConnectionError),
    "not-http": (b"SSH-2.0-OpenSSH_9.6\r\n", y.APIConnectionError),
    "closed-without-answer": (b"", y.APIConnectionError),
}


def _once(raw: bytes):  # type: ignore[no-untyped-def]
    async def scenario(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)  # then the connection closes

    return scenario


@pytest.mark.parametrize("case", sorted(CASES))
async def test_odd_answer_is_one_clear_error(case: str, kind: str) -> None:
    raw, expected = CASES[case]
    async with RawServer(_once(raw)) as server, \
            client_for(server.base_url, kind, timeout=2.0,
                       retry=y.RetryPolicy.none()) as client:
        with pytest.raises(y.YativoError) as info:
            await bounded(client.api_keys.list())
    assert isinstance(info.value, expected), repr(info.value)
    assert_no_secret(info.value)
    assert len(server.requests) == 1
