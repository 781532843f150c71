"""Issue 10, defects 5 and 6: success that wasn't, and replays that lie.

Defect 5: ``revoke`` and ``update_permissions`` reported success for a redirect to another
host, a 304, and a 200 whose body is doc 000's failure envelope (``{"success": false, ...}``)
or ``{"status": "error"}``. Each is now an `APIStatusError` with the status and the
server's message; the redirect is not followed (the bearer token and the 2FA code go
nowhere else) and not retried.

Defect 6: a revoke whose response was lost is replayed; a 404 or 409 on that replay means
the first attempt did it, so the call succeeds (a 409 on a first attempt is still a
`ConflictError`). ``update_permissions`` sets the whole set, so its replay is safe: the
same body is sent again and the replay's answer is the call's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import yativo_async as y

from .conftest import TOKEN, assert_no_secret, bounded, client_for
from .servers import RawRequest, RawServer, response_bytes

KEY = "key_01abc123"

Op = Callable[[y.YativoClient], Awaitable[None]]


async def _revoke(client: y.YativoClient) -> None:
    await client.api_keys.revoke(KEY)


async def _update(client: y.YativoClient) -> None:
    await client.api_keys.update_permissions(KEY, ["read", "transactions"])


OPS = pytest.mark.parametrize("op", [_revoke, _update], ids=["revoke", "update_permissions"])


def _answer(status: int, body: Any = b"", headers: dict[str, str] | None = None
            ) -> Callable[[RawRequest, asyncio.StreamWriter], Awaitable[None]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    given = {"Content-Type": "application/json", **(headers or {})}

    async def scenario(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_bytes(status, raw, given))

    return scenario


@OPS
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_another_host_is_an_error_and_not_followed(
    op: Op, status: int, kind: str
) -> None:
    async with RawServer(_answer(200, {"success": True})) as other:
        target = other.base_url + f"/apikey/{KEY}/revoke"
        async with RawServer(_answer(status, b"", {"Location": target})) as server, \
                client_for(server.base_url, kind) as client:
            with pytest.raises(y.APIStatusError) as info:
                await bounded(op(client))
    assert info.value.status == status
    assert "redirect" in str(info.value)
    assert other.requests == []  # the token and the 2FA code went nowhere else
    assert len(server.requests) == 1  # a redirect is not retried
    assert_no_secret(info.value)


@OPS
async def test_a_304_is_an_error(op: Op) -> None:
    async with RawServer(_answer(304)) as server, client_for(server.base_url) as client:
        with pytest.raises(y.APIStatusError) as info:
            await bounded(op(client))
    assert info.value.status == 304
    assert len(server.requests) == 1


@OPS
@pytest.mark.parametrize(
    "body",
    [
        {"success": False, "message": "Key is locked by a pending rotation"},
        {"status": "error", "message": "Key is locked by a pending rotation"},
        {"success": False, "error": "Key is locked by a pending rotation", "data": None},
        {"status": "FAILED", "detail": "Key is locked by a pending rotation"},
    ],
    ids=["success-false", "status-error", "success-false-error-field", "status-failed-detail"],
)
async def test_a_200_that_reports_failure_is_an_error_with_the_servers_message(
    op: Op, body: dict[str, Any], kind: str
) -> None:
    async with RawServer(_answer(200, body)) as server, \
            client_for(server.base_url, kind) as client:
        with pytest.raises(y.APIStatusError) as info:
            await bounded(op(client))
    assert info.value.status == 200
    assert "Key is locked by a pending rotation" in str(info.value)
    assert len(server.requests) == 1


@OPS
@pytest.mark.parametrize("body", [{"success": True, "message": "API key revoked"}, {}, b""],
                         ids=["envelope", "empty-object", "no-body"])
async def test_a_real_success_is_still_a_success(op: Op, body: Any) -> None:
    async with RawServer(_answer(200, body)) as server, client_for(server.base_url) as client:
        assert await bounded(op(client)) is None
    assert len(server.requests) == 1


@OPS
async def test_a_server_echoing_the_token_in_a_failure_envelope_shows_no_secret(op: Op) -> None:
    body = {"success": False, "message": f"token {TOKEN} is not allowed"}
    async with RawServer(_answer(200, body)) as server, client_for(server.base_url) as client:
        with pytest.raises(y.APIStatusError) as info:
            await bounded(op(client))
    assert_no_secret(info.value)


MODEL_CALLS = pytest.mark.parametrize("call", [
    lambda c: c.api_keys.list(),
    lambda c: c.api_keys.get(KEY),
    lambda c: c.api_keys.create(name="n", permissions=["read"]),
    lambda c: c.api_keys.generate(name="n"),
    lambda c: c.api_keys.rotate(KEY, adopt=False),
    lambda c: c.api_keys.with_raw_response.get(KEY),
], ids=["list", "get", "create", "generate", "rotate", "raw-get"])


async def _parsed(call: Awaitable[Any]) -> Any:
    result = await call
    return result.parse() if isinstance(result, y.APIResponse) else result


@MODEL_CALLS
@pytest.mark.parametrize("body", [
    {"success": False, "message": "Name already taken"},
    {"status": "error", "message": "Name already taken"},
    {"success": False, "message": "Name already taken", "data": None},
    {"success": False, "message": "Name already taken", "data": {}},
], ids=["success-false", "status-error", "data-null", "data-empty"])
async def test_a_200_that_reports_failure_on_a_model_call_keeps_the_servers_message(
    call: Callable[[y.YativoClient], Awaitable[Any]], body: dict[str, Any],
) -> None:
    # Not "required field missing @ $.api_key": the server's own words, as revoke gets them.
    async with RawServer(_answer(200, body)) as server, client_for(server.base_url) as client:
        with pytest.raises(y.APIStatusError) as info:
            await bounded(_parsed(call(client)))
    assert info.value.status == 200
    assert "Name already taken" in str(info.value)
    assert len(server.requests) == 1


# -- replays -----------------------------------------------------------------------------

def _lost_then(status: int, body: Any) -> Callable[[RawRequest, asyncio.StreamWriter],
                                                      Awaitable[bool]]:
    """The first request is processed and its response lost (the connection drops without
    an answer); every later one gets ``status``/``body``."""
    seen: list[RawRequest] = []
    raw = json.dumps(body).encode()

    async def scenario(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        seen.append(request)
        if len(seen) == 1:
            return False  # close without a byte: the client cannot know it was done
        writer.write(response_bytes(status, raw, {"Content-Type": "application/json"}))
        return False

    return scenario


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, {"success": False, "message": "API key already revoked"}),
        (404, {"success": False, "message": "API key not found"}),
        (200, {"success": True, "message": "API key revoked"}),
    ],
    ids=["409-already-revoked", "404-gone", "200"],
)
async def test_a_revoke_replayed_after_a_lost_response_succeeds(
    status: int, body: dict[str, Any], kind: str
) -> None:
    async with RawServer(_lost_then(status, body)) as server, \
            client_for(server.base_url, kind) as client:
        assert await bounded(client.api_keys.revoke(KEY)) is None
    assert [r.method for r in server.requests] == ["POST", "POST"]
    assert all(r.path == f"/api/apikey/{KEY}/revoke" for r in server.requests)
    assert all("x-2fa-token" in r.headers for r in server.requests)


async def test_a_409_on_a_first_revoke_is_still_a_conflict() -> None:
    # No attempt was lost: the server's "already revoked" is the caller's to know.
    body = {"success": False, "message": "API key already revoked"}
    async with RawServer(_answer(409, body)) as server, client_for(server.base_url) as client:
        with pytest.raises(y.ConflictError, match="already revoked"):
            await bounded(client.api_keys.revoke(KEY))
    assert len(server.requests) == 1


async def test_a_failure_envelope_on_a_revoke_replay_is_still_an_error() -> None:
    # The replay's 200 says it failed: the revoke did not happen and must not look done.
    async with RawServer(_lost_then(200, {"success": False, "message": "revocation failed"})
                         ) as server, client_for(server.base_url) as client:
        with pytest.raises(y.APIStatusError, match="revocation failed"):
            await bounded(client.api_keys.revoke(KEY))
    assert len(server.requests) == 2


async def test_update_permissions_replayed_after_a_lost_response_sends_the_same_set() -> None:
    async with RawServer(_lost_then(200, {"success": True})) as server, \
            client_for(server.base_url) as client:
        assert await bounded(client.api_keys.update_permissions(KEY, ["read"])) is None
    assert [r.method for r in server.requests] == ["PUT", "PUT"]
    bodies = [json.loads(r.body) for r in server.requests]
    assert bodies[0] == bodies[1] == {"permissions": ["read"]}


async def test_update_permissions_replay_answer_is_the_calls_answer() -> None:
    # Unlike revoke, a 404 on the replay is not taken as done: setting permissions on a
    # key that is gone did not happen.
    async with RawServer(_lost_then(404, {"success": False, "message": "API key not found"})
                         ) as server, client_for(server.base_url) as client:
        with pytest.raises(y.NotFoundError):
            await bounded(client.api_keys.update_permissions(KEY, ["read"]))
    assert len(server.requests) == 2


@pytest.mark.parametrize("op", ["create", "generate"])
async def test_a_create_whose_response_was_lost_is_not_sent_twice(op: str, kind: str) -> None:
    # The server made the key and the answer was lost: a second POST would make a second
    # key. The call says the outcome is unknown and names the key to look for.
    created = {"id": "key_new", "name": "Payments prod", "api_key": "yvk_live_n",
               "api_secret": "yvs_live_n", "permissions": ["read"]}
    async with RawServer(_lost_then(200, created)) as server, \
            client_for(server.base_url, kind) as client:
        make = client.api_keys.create if op == "create" else client.api_keys.generate
        perms = ["read"] if op == "create" else ["transactions:read"]
        with pytest.raises(y.OutcomeUnknownError) as info:
            await bounded(make(name="Payments prod", permissions=perms))
    assert len(server.requests) == 1
    assert "Payments prod" in str(info.value)
    assert_no_secret(info.value)




async def test_a_2xx_that_does_not_decode_shows_no_echoed_token() -> None:
    body = {"keys": "not a list", "note": f"you sent {TOKEN}"}
    answer = _answer(200, body, {"X-Request-Id": "req_bad_body"})
    async with RawServer(answer) as server, client_for(server.base_url) as client:
        with pytest.raises(y.ResponseDecodeError) as info:
            await bounded(client.api_keys.list())
        raw = await bounded(client.api_keys.with_raw_response.list())
        with pytest.raises(y.ResponseDecodeError) as raw_info:
            raw.parse()
    for failure in (info.value, raw_info.value):
        assert_no_secret(failure)
        assert failure.request_id == "req_bad_body"
        assert failure.status == 200 and "$.keys" in failure.message


_ECHOED_LINES = {
    # the token alone (no `Bearer `), in lines the HTTP parser refuses and quotes
    "header name": b"HTTP/1.1 200 OK\r\nX-Bad\x01: " + TOKEN.encode()
                   + b"\r\nContent-Length: 2\r\n\r\n[]",
    "status line": b"HTTP/1.1 2x0 " + TOKEN.encode() + b"\r\n\r\n",
    "bearer status line": b"HTTP/1.1 2x0 Bearer " + TOKEN.encode() + b"\r\n\r\n",
    # a status line the parser takes, then a 204 with a body it refuses
    "no-content body": b"HTTP/1.1 204 " + TOKEN.encode() + b"\r\nContent-Length: 2\r\n\r\n[]",
}


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
@pytest.mark.parametrize("line", sorted(_ECHOED_LINES))
async def test_a_token_echoed_in_a_line_the_parser_refuses_is_in_no_printed_traceback(
    kind: str, line: str
) -> None:
    """A hostile server echoes the bearer token in a malformed status or header line. The
    error's own message was masked, but aiohttp's parser error it was chained to quoted
    the raw line, and every traceback (``logging.exception``) printed the token; aiohttp's
    response error also kept the unmasked request headers in its ``args``."""
    import traceback

    async def echo(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(_ECHOED_LINES[line])

    async with RawServer(echo) as server, client_for(server.base_url, kind) as client:
        with pytest.raises(y.YativoError) as info:
            await bounded(client.api_keys.list())
    failure = info.value
    assert_no_secret(failure)
    assert TOKEN not in "".join(traceback.format_exception(type(failure), failure,
                                                           failure.__traceback__))
    seen: BaseException | None = failure
    while seen is not None:  # what code walking the chain's arguments finds
        assert TOKEN not in repr(seen.args)
        for arg in seen.args:
            assert TOKEN not in repr(getattr(arg, "headers", ""))
        seen = seen.__cause__ or seen.__context__
