"""Property tests: whatever a server sends, only `YativoError`s or results come out, and no
hint it sends can make a pause that is infinite, negative or past its bound.

1. The wire layer (`_sansio`): arbitrary header values (numbers of every kind, ``inf``,
   ``nan``, HTTP dates from year 1 to 9999, structured-field garbage), any status from 0 to
   999 and arbitrary bytes or JSON as the body go through `parse_rate_limit_headers`,
   `cap_server_limits`, `error_from_response` and `reported_failure`.
2. The whole client: the same answers given to every operation through `MockTransport`.

``derandomize=True``: the same examples on every run (CI must not be flaky), no database.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import yativo_async as y
from yativo_async._sansio import (
    LIMIT_HEADERS,
    cap_server_limits,
    error_from_response,
    extract_message,
    parse_rate_limit_headers,
    reported_failure,
    safe_body,
)

from .conftest import TOKEN

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
#: a client per example costs ~5 ms: fewer examples keep the test at a few seconds
CLIENT_SETTINGS = settings(SETTINGS, max_examples=200)

MAX_PAUSE = 60.0
MAX_PERIOD = 86_400.0

_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e308", "1e309", "-0",
                     "9" * 400, "0x10", "1_000", " 5 ", "", "1e-320", "١٢"]),
)
_dates = st.datetimes().map(lambda d: email.utils.format_datetime(d.replace(tzinfo=None)))
_sf = st.builds(
    lambda name, q, w, extra: f"{name};q={q};w={w}{extra}",
    st.sampled_from(["", '"default"', "k", "1"]),
    _numbers, _numbers,
    st.sampled_from(["", ", q=1;w=1e9", ";r=5;t=inf", ', "x";r=nan', ",,;;"]),
)
_values = st.one_of(_numbers, _dates, _sf, st.text(max_size=60))
_names = st.sampled_from(sorted(LIMIT_HEADERS | {"retry-after", "content-type", "location",
                                                 "x-request-id"}))
_headers = st.dictionaries(_names, _values, max_size=6)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    | st.just(TOKEN),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["success", "status", "message", "error", "detail",
                                       "data", "keys", "id", "access_token", "errors"])
                      | st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
_bodies = st.one_of(
    st.binary(max_size=300),
    _json.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 5000).map(lambda n: b'{"message": ' + b"[" * n + b"]" * n + b"}"),
    st.sampled_from([b"<html><title>502 Bad Gateway</title></html>", b"\xff\xfe", b"null",
                     b'{"success": false}', b'{"status": "error", "message": "' + TOKEN.encode()
                     + b'"}']),
)


def _finite_pause(value: float | None, bound: float = math.inf) -> None:
    if value is not None:
        assert math.isfinite(value) and 0 <= value <= bound, value


@SETTINGS
@given(headers=_headers, status=st.integers(0, 999), body=_bodies,
       now=st.floats(0, 4e9, allow_nan=False))
def test_wire_parsing_gives_only_yativo_errors_and_bounded_pauses(
    headers: dict[str, str], status: int, body: bytes, now: float
) -> None:
    info = parse_rate_limit_headers(headers, now_epoch=now)
    _finite_pause(info.retry_after)
    _finite_pause(info.reset_after)
    for rl in info.policies:
        assert math.isfinite(rl.period) and rl.period > 0 and rl.limit >= 1
    capped, notes = cap_server_limits(info, max_pause=MAX_PAUSE, max_period=MAX_PERIOD)
    _finite_pause(capped.retry_after, MAX_PAUSE)
    # a reset is a pause when no budget is left; with budget left it only bounds a window
    spending = capped.remaining is not None and capped.remaining > 0
    _finite_pause(capped.reset_after, MAX_PERIOD if spending else MAX_PAUSE)
    for rl in capped.policies:
        assert rl.period <= MAX_PERIOD
    assert bool(notes) == (capped != info)

    error = error_from_response(status, headers, body, retry_after=capped.retry_after,
                                secrets=(TOKEN,))
    assert isinstance(error, y.APIStatusError) and error.status == status
    for text in (str(error), repr(error), error.body or ""):
        assert TOKEN not in text
        assert len(text) < 5000
    failure = reported_failure(status, headers, body, secrets=(TOKEN,))
    assert failure is None or (isinstance(failure, y.APIStatusError)
                               and TOKEN not in str(failure) + (failure.body or ""))
    message = extract_message(body, headers.get("content-type", ""))
    assert message is None or isinstance(message, str)
    assert isinstance(safe_body(body), str)


Op = Callable[[y.YativoClient], Awaitable[Any]]

OPERATIONS: dict[str, Op] = {
    "list": lambda c: c.api_keys.list(),
    "get": lambda c: c.api_keys.get("key_01abc123"),
    "create": lambda c: c.api_keys.create(name="Production Server", permissions=["read"]),
    "generate": lambda c: c.api_keys.generate(name="Backend",
                                              permissions=["transactions:read"]),
    "rotate": lambda c: c.api_keys.rotate("key_01abc123"),
    "revoke": lambda c: c.api_keys.revoke("key_01abc123"),
    "update_permissions": lambda c: c.api_keys.update_permissions("key_01abc123", ["read"]),
    "exchange_token": lambda c: c.auth.exchange_token(api_key="yvk_live_x",
                                                      api_secret="yvs_live_x"),
}

#: bodies for the whole client (200,000-deep arrays have their own tests in test_bodies)
_client_bodies = st.one_of(
    st.binary(max_size=200),
    _json.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b'{"keys": [{"id": 5}]}', b'{"success": true, "data": null}',
                     b'{"access_token": "a\\r\\nb", "expires_in": 1e400}',
                     b'{"access_token": "ok", "expires_in": -5, "token_type": 7}',
                     b'{"success": true, "data": {"key_id": [], "api_key": {}}}',
                     b'{"id": "k", "api_key": "a", "api_secret": "s", "rotated_at": "x"}']),
)


@CLIENT_SETTINGS
@given(op=st.sampled_from(sorted(OPERATIONS)), headers=_headers,
       status=st.integers(100, 999), body=_client_bodies)
def test_every_operation_on_any_answer_raises_only_yativo_errors(
    op: str, headers: dict[str, str], status: int, body: bytes
) -> None:
    answer = y.Response(status=status, headers=headers, body=body)

    async def run() -> None:
        async with y.YativoClient(access_token=TOKEN, two_factor=lambda: "123456",
                                  transport=y.MockTransport(lambda r: answer),
                                  retry=y.RetryPolicy.none(), timeout=5.0) as client:
            try:
                await asyncio.wait_for(OPERATIONS[op](client), 5.0)
            except y.YativoError as exc:
                if op != "exchange_token":
                    # an answer echoing the token this call sent is masked, whether it is
                    # an error or a 2xx that fails to decode (the exchange does not send
                    # the bearer token, so it has none to mask)
                    for text in (str(exc), repr(exc), getattr(exc, "body", None) or ""):
                        assert TOKEN not in text
            # After this answer the next call may start within the cap on a pause, or at
            # worst once the longest configured window (a day) has passed: never later.
            loop = asyncio.get_running_loop()
            now = loop.time()
            wait = client._limiter.earliest_start(now, ahead=0) - now
            _finite_pause(max(wait, 0.0), max(y.RetryPolicy().max_retry_after, 86_400.0))
            if "ratelimit-policy" not in headers:
                # no window was announced: only a pause, capped at max_retry_after
                _finite_pause(max(wait, 0.0), y.RetryPolicy().max_retry_after)

    asyncio.run(run())
