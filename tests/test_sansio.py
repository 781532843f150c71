"""The wire protocol with no I/O (gidgethub style): recorded samples in, values out."""

from __future__ import annotations

import asyncio
import json

import pytest

import yativo_async as y
from yativo_async._sansio import (
    LIMIT_HEADERS,
    TWO_FACTOR_FIELD,
    TWO_FACTOR_HEADER,
    build_request,
    carries_limits,
    error_from_response,
    key_path,
    parse_rate_limit_headers,
)

from .conftest import json_response, sample

FIXED = {"Accept": "application/json", "User-Agent": "yativo-async/test"}
URL = "https://crypto-api.yativo.com/api"


# -- 1. requests ---------------------------------------------------------------------------


def test_a_plain_get_shares_the_fixed_headers() -> None:
    request = build_request(method="GET", url=URL + "/apikey/list", headers=FIXED)
    assert request.headers is FIXED  # nothing to add: no per-call copy
    assert request.body is None


def test_token_code_and_body_field() -> None:
    request = build_request(
        method="POST", url=URL + "/apikey/create", headers=FIXED, token="tok_1",
        body={"name": "n", "permissions": ["read"]}, code="123456", code_in_body=True,
        timeout=5.0,
    )
    assert request.headers["Authorization"] == "Bearer tok_1"
    assert request.headers[TWO_FACTOR_HEADER] == "123456"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body is not None
    assert json.loads(request.body) == {
        "name": "n", "permissions": ["read"], TWO_FACTOR_FIELD: "123456",
    }
    assert request.timeout == 5.0
    assert "Authorization" not in FIXED  # the fixed headers were not written into


def test_code_only_in_the_header_unless_asked() -> None:
    request = build_request(method="POST", url=URL + "/apikey/k/revoke", headers=FIXED,
                            token="t", code="654321")
    assert request.headers[TWO_FACTOR_HEADER] == "654321"
    assert request.body is None


def test_extra_headers_never_replace_the_token_or_the_code() -> None:
    request = build_request(
        method="POST", url=URL, headers=FIXED, token="real", code="111111",
        extra_headers={"Authorization": "Bearer forged", TWO_FACTOR_HEADER: "000000",
                       "X-Trace": "abc"},
    )
    assert request.headers["Authorization"] == "Bearer real"
    assert request.headers[TWO_FACTOR_HEADER] == "111111"
    assert request.headers["X-Trace"] == "abc"


@pytest.mark.parametrize(
    ("key_id", "path"),
    [("key_01abc123", "/apikey/key_01abc123"), ("a%b", "/apikey/a%25b"), ("é", "/apikey/%C3%A9")],
)
def test_key_path_quotes_one_segment(key_id: str, path: str) -> None:
    assert key_path(key_id) == path


@pytest.mark.parametrize("key_id", ["", ".", "..", "a/b", "a b", "a?b", "a#b", "a\nb"])
def test_key_path_refuses_what_is_not_one_segment(key_id: str) -> None:
    with pytest.raises(ValueError, match="not a valid key id"):
        key_path(key_id)


# -- 2. limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"ratelimit-remaining": "0", "ratelimit-reset": "30"},
        {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "30"},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"},
    ],
)
def test_every_remaining_family_is_gated_in_and_parsed(headers: dict[str, str]) -> None:
    # The bug this module's rule 2 prevents: RateLimit-Remaining was parsed but its
    # response never reached the parser, because the gate list in another module lacked it.
    assert carries_limits(200, headers)
    info = parse_rate_limit_headers(headers, now_epoch=0.0)
    assert (info.remaining, info.reset_after) == (0, 30.0)


@pytest.mark.parametrize("name", sorted(LIMIT_HEADERS))
def test_every_gated_header_is_read_by_the_parser(name: str) -> None:
    value = "q=5;w=60" if name == "ratelimit-policy" else (
        "limit=5, remaining=1, reset=9" if name == "ratelimit" else "7"
    )
    assert parse_rate_limit_headers({name: value}, now_epoch=0.0) != parse_rate_limit_headers(
        {}, now_epoch=0.0
    )


def test_a_response_without_limit_headers_is_not_parsed() -> None:
    assert not carries_limits(200, {"content-type": "application/json", "x-request-id": "r"})
    assert carries_limits(429, {})


def test_doc_headers_sample() -> None:
    headers = {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "59",
               "x-ratelimit-reset": "1700000060"}
    info = parse_rate_limit_headers(headers, now_epoch=1_700_000_000.0)
    assert (info.limit, info.remaining, info.reset_after) == (60, 59, 60.0)


@pytest.mark.looptime
async def test_client_obeys_ratelimit_remaining_zero() -> None:
    """RateLimit-Remaining: 0 with RateLimit-Reset: 30 holds the next call for 30 s."""
    sent: list[float] = []
    loop = asyncio.get_running_loop()

    def answer(request: y.Request) -> y.Response:
        sent.append(loop.time())
        return json_response(200, {"keys": []},
                             {"RateLimit-Remaining": "0", "RateLimit-Reset": "30"})

    async with y.YativoClient(access_token="t", transport=y.MockTransport(answer)) as client:
        await client.api_keys.list()
        await client.api_keys.list()
    assert sent[1] - sent[0] == pytest.approx(30.0, abs=0.01)


# -- 3. errors from recorded bodies --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, y.BadRequestError), (401, y.AuthenticationError), (403, y.PermissionDeniedError),
     (404, y.NotFoundError), (409, y.ConflictError), (422, y.BadRequestError),
     (429, y.RateLimitError), (500, y.ServerError), (503, y.ServerError),
     (418, y.APIStatusError)],
)
def test_status_to_class(status: int, cls: type[y.APIStatusError]) -> None:
    error = error_from_response(status, {"x-request-id": "req_9"},
                                b'{"success": false, "message": "nope"}')
    assert type(error) is cls
    assert (error.status, error.message, error.request_id) == (status, "nope", "req_9")


def test_doc_body_sample_is_not_an_error_message_source_of_secrets() -> None:
    body = sample("doc000_generate.json")
    error = error_from_response(500, {}, body)
    assert error.body is not None
    assert "xxxxxxxxxxxxxxxx" not in error.body  # api_secret and api_key masked
    assert "Production API Key" in error.body
