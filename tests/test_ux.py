"""Issue 12, the client: per-call options, raw responses, serialisable models, fail-fast
configuration, 2FA reasons, logging, and the client-side RateLimitError's wording."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import subprocess
import sys
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import yativo_async as y
from yativo_async._logging import configure_from_env
from yativo_async.testing import FakeYativo

from .conftest import Recorder, json_response

CREATED = {"id": "key_1", "name": "n", "api_key": "yvk_1", "api_secret": "yvs_SECRET_1",
           "permissions": ["read"], "created_at": "2024-01-01T00:00:00Z"}
ROTATED = {"id": "key_1", "api_key": "yvk_1", "api_secret": "yvs_SECRET_2"}
KEY = {"id": "key_1", "name": "n", "permissions": ["read"], "status": "active"}
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def answer(request: y.Request) -> y.Response:
    """One canned answer per endpoint, each with a request id."""
    path = "/" + request.url.split("/api/", 1)[1]
    headers = {"X-Request-Id": "req_" + path.strip("/").replace("/", "_")}
    if path.endswith("/token"):
        body: Any = {"access_token": "tok_XYZ", "expires_in": 3600, "token_type": "Bearer"}
    elif path == "/apikey/list":
        body = {"keys": [KEY, {**KEY, "id": "key_2"}]}
    elif path in ("/apikey/create", "/apikey/generate"):
        body = CREATED
    elif path.endswith("/rotate"):
        body = ROTATED
    elif path.endswith(("/revoke", "/permissions")):
        body = {"success": True, "message": "ok"}
    else:
        body = KEY
    return json_response(200, body, headers)


def make_client(recorder: Recorder, **kwargs: Any) -> y.YativoClient:
    kwargs.setdefault("access_token", "tok_USER")
    return y.YativoClient(base_url="https://api.test/api", two_factor=TOTP,
                          transport=y.MockTransport(recorder), rate_limits=[], **kwargs)


# Every endpoint, as (name, call on a resource-like object).
ENDPOINTS: list[tuple[str, Callable[[Any, Any], Awaitable[Any]]]] = [
    ("list", lambda c, kw: c.api_keys.list(**kw)),
    ("get", lambda c, kw: c.api_keys.get("key_1", **kw)),
    ("create", lambda c, kw: c.api_keys.create(name="n", permissions=["read"], **kw)),
    ("generate", lambda c, kw: c.api_keys.generate(name="n", **kw)),
    ("rotate", lambda c, kw: c.api_keys.rotate("key_1", **kw)),
    ("revoke", lambda c, kw: c.api_keys.revoke("key_1", **kw)),
    ("update_permissions",
     lambda c, kw: c.api_keys.update_permissions("key_1", ["read"], **kw)),
    ("exchange_token",
     lambda c, kw: c.auth.exchange_token(api_key="yvk_1", api_secret="yvs_S", **kw)),
]
RAW_ENDPOINTS: list[tuple[str, Callable[[Any], Awaitable[y.APIResponse[Any]]]]] = [
    ("list", lambda c: c.api_keys.with_raw_response.list()),
    ("get", lambda c: c.api_keys.with_raw_response.get("key_1")),
    ("create", lambda c: c.api_keys.with_raw_response.create(name="n")),
    ("generate", lambda c: c.api_keys.with_raw_response.generate(name="n")),
    ("rotate", lambda c: c.api_keys.with_raw_response.rotate("key_1")),
    ("revoke", lambda c: c.api_keys.with_raw_response.revoke("key_1")),
    ("update_permissions",
     lambda c: c.api_keys.with_raw_response.update_permissions("key_1", ["write"])),
    ("exchange_token",
     lambda c: c.auth.with_raw_response.exchange_token(api_key="yvk_1", api_secret="yvs_S")),
]


# -- with_options -----------------------------------------------------------------------


async def test_with_options_view_shares_pool_limiter_token_and_stats() -> None:
    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        view = client.with_options(timeout=5, max_wait=0.5, priority="batch",
                                   extra_headers={"X-Trace": "t1"})
        assert view.is_view and not client.is_view
        assert view._transport is client._transport
        assert view._pipeline is client._pipeline  # one pool, one limiter, one close
        assert view.token_provider is client.token_provider
        assert view.stats is client.stats
        assert view._options.timeout == 5.0 and view._options.max_wait == 0.5
        assert view._options.lane == "batch"
        # The client itself is unchanged.
        assert client._options.timeout == 30.0 and client._options.extra_headers is None
        assert client._options.lane == "interactive"
        await view.api_keys.list()
        await client.api_keys.list()
        with_view, plain = recorder.requests
        assert with_view.timeout == 5.0 and with_view.headers["X-Trace"] == "t1"
        assert plain.timeout == 30.0 and "X-Trace" not in plain.headers
        assert client.stats.calls == 2


async def test_with_options_only_changes_what_is_given_and_composes() -> None:
    recorder = Recorder(answer)
    policy = y.RetryPolicy(max_attempts=1)
    async with make_client(recorder, max_wait=3.0, timeout=7.0) as client:
        first = client.with_options(extra_headers={"X-A": "1", "X-B": "1"}, retry=policy)
        second = first.with_options(extra_headers={"x-b": "2"}, max_wait=None)
        assert second._options.retry is policy
        assert second._options.timeout == 7.0
        assert second._options.max_wait is None  # None means "no bound", not "unchanged"
        assert first._options.max_wait is client._options.max_wait
        await second.api_keys.list(extra_headers={"X-C": "3"})
        sent = recorder.requests[0].headers
        assert {k: v for k, v in sent.items() if k.lower().startswith("x-")} == {
            "X-A": "1", "x-b": "2", "X-C": "3"}


async def test_priority_reaches_the_limiter_as_the_lane() -> None:
    lanes: list[str] = []

    class SpyLimiter:
        """Records the lane of every acquire, then defers to the real limiter."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        async def acquire(self, **kwargs: Any) -> Any:
            lanes.append(kwargs.get("lane", "interactive"))
            return await self._inner.acquire(**kwargs)

        def try_acquire(self, **kwargs: Any) -> Any:  # asked for interactive calls only
            lanes.append("interactive")
            return self._inner.try_acquire(**kwargs)

    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        client._pipeline.limiter = SpyLimiter(client._pipeline.limiter)  # type: ignore[assignment]
        await client.with_options(priority="batch").api_keys.list()
        await client.with_options(priority="interactive").api_keys.list()
        await client.api_keys.list()
    assert lanes == ["batch", "interactive", "interactive"]


async def test_views_are_cheap_and_leak_nothing() -> None:
    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        tasks_before = len(asyncio.all_tasks())
        refs = []
        for i in range(500):
            view = client.with_options(timeout=1 + i % 5, extra_headers={"X-N": str(i)})
            await view.api_keys.get("key_1")
            refs.append(weakref.ref(view))
        del view
        gc.collect()
        assert all(ref() is None for ref in refs)  # nothing keeps a view alive
        assert len(asyncio.all_tasks()) == tasks_before  # and none started a task
        assert not client.closed


async def test_closing_a_view_closes_only_the_view() -> None:
    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        async with client.with_options(timeout=2) as view:
            await view.api_keys.list()
        assert view.closed and not client.closed
        with pytest.raises(y.ClientClosedError, match="view is closed"):
            await view.api_keys.list()
        await client.api_keys.list()  # the pool is still open
        other = client.with_options(timeout=3)
    assert other.closed  # closing the client closes every view
    with pytest.raises(y.ClientClosedError, match="YativoClient is closed"):
        await other.api_keys.list()
    with pytest.raises(y.ClientClosedError):
        client.with_options(timeout=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": float("inf")}, ValueError, "timeout"),
        ({"timeout": "5"}, TypeError, "timeout"),
        ({"max_wait": -1}, ValueError, "max_wait"),
        ({"retry": 3}, TypeError, "RetryPolicy"),
        ({"priority": "urgent"}, ValueError, "priority"),
        ({"extra_headers": {"Authorization": "Bearer x"}}, ValueError, "Authorization"),
    ],
)
def test_with_options_checks_its_arguments(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    client = y.YativoClient(access_token="t", transport=y.MockTransport(Recorder(answer)))
    with pytest.raises(error, match=match):
        client.with_options(**kwargs)


# -- timeout= and extra_headers= on every endpoint --------------------------------------


@pytest.mark.parametrize(("name", "call"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
async def test_every_endpoint_takes_timeout_and_extra_headers(
    name: str, call: Callable[[Any, Any], Awaitable[Any]]
) -> None:
    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        await call(client, {"timeout": 4.5, "extra_headers": {"X-Idempotency-Note": name}})
    request = recorder.requests[-1]
    assert request.timeout == 4.5
    assert request.headers["X-Idempotency-Note"] == name


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        ({"authorization": "Bearer stolen"}, ValueError, "must not set authorization"),
        ({"AUTHORIZATION": "Bearer stolen"}, ValueError, "bearer token"),
        ({"X-2FA-Token": "123456"}, ValueError, "two_factor_code"),
        ({"Host": "evil.example"}, ValueError, "Host"),
        ({"X-Ok": "a\r\nX-Injected: 1"}, ValueError, "control characters"),
        ({"Bad Name": "v"}, ValueError, "not a valid header name"),
        ({"X-Num": 5}, TypeError, "must be a str"),
        ([("X-A", "1")], TypeError, "mapping"),
    ],
)
@pytest.mark.parametrize(("name", "call"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
async def test_bad_extra_headers_fail_before_sending(
    name: str, call: Callable[[Any, Any], Awaitable[Any]], headers: Any,
    error: type[Exception], match: str,
) -> None:
    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        with pytest.raises(error, match=match):
            await call(client, {"extra_headers": headers})
    assert recorder.requests == []


async def test_extra_headers_replace_client_headers_case_insensitively() -> None:
    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        await client.api_keys.list(extra_headers={"user-agent": "my-app/1.0"})
    sent = recorder.requests[0].headers
    agents = [v for k, v in sent.items() if k.lower() == "user-agent"]
    assert agents == ["my-app/1.0"]
    assert sent["Authorization"] == "Bearer tok_USER"


async def test_bad_per_call_timeout_fails_before_the_2fa_code_is_asked() -> None:
    asked: list[int] = []

    def code() -> str:
        asked.append(1)
        return "123456"

    recorder = Recorder(answer)
    async with y.YativoClient(access_token="t", two_factor=code, rate_limits=[],
                              transport=y.MockTransport(recorder)) as client:
        with pytest.raises(ValueError, match="timeout"):
            await client.api_keys.rotate("key_1", timeout=-1)
    assert asked == [] and recorder.requests == []


# -- raw responses and request ids --------------------------------------------------------


@pytest.mark.parametrize(("name", "call"), RAW_ENDPOINTS, ids=[e[0] for e in RAW_ENDPOINTS])
async def test_with_raw_response_for_every_endpoint(
    name: str, call: Callable[[Any], Awaitable[y.APIResponse[Any]]]
) -> None:
    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        raw = await call(client)
    assert isinstance(raw, y.APIResponse)
    assert raw.status == 200
    assert raw.headers["x-request-id"] == raw.request_id
    assert raw.request_id is not None and raw.request_id.startswith("req_")
    assert raw.attempts == 1 and raw.elapsed >= 0
    assert json.loads(raw.content)
    parsed = raw.parse()
    assert raw.parse() is parsed  # decoded once
    if name in ("revoke", "update_permissions"):
        assert parsed is None
    else:
        items = parsed if isinstance(parsed, list) else [parsed]
        assert items and all(item.request_id == raw.request_id for item in items)
    assert "SECRET" not in repr(raw) and "tok_XYZ" not in repr(raw)


async def test_raw_response_counts_attempts_and_elapsed_in_virtual_time() -> None:
    calls = 0

    async def flaky(request: y.Request) -> y.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            return json_response(503, {"message": "busy"}, {"Retry-After": "0"})
        return answer(request)

    async with y.YativoClient(access_token="t", rate_limits=[],
                              transport=y.MockTransport(flaky)) as client:
        raw = await client.api_keys.with_raw_response.get("key_1")
    assert raw.attempts == 2
    assert raw.parse().id == "key_1"


async def test_plain_methods_carry_the_request_id_and_models_compare_without_it(
    fake: FakeYativo,
) -> None:
    async with y.YativoClient(access_token=fake.access_token, two_factor=fake.totp_secret,
                              transport=fake.transport()) as c:
        created = await c.api_keys.create(name="with id", permissions=["read"])
        keys = await c.api_keys.list()
        again = await c.api_keys.get(keys[0].id)
    assert created.request_id and created.request_id.startswith("req_")
    assert keys[0].request_id and again.request_id and keys[0].request_id != again.request_id
    assert keys[0] == again  # the request id is about the response, not the key
    assert "request_id" not in keys[0].to_dict()


async def test_raw_rotate_still_adopts_the_clients_own_new_secret() -> None:
    recorder = Recorder(answer)
    async with y.YativoClient(api_key="yvk_1", api_secret="yvs_OLD", two_factor=TOTP,
                              base_url="https://api.test/api", rate_limits=[],
                              transport=y.MockTransport(recorder)) as client:
        await client.api_keys.with_raw_response.rotate("key_1")
        await client.auth.with_raw_response.exchange_token()
    body = json.loads(recorder.requests[-1].body or b"{}")
    assert body == {"api_key": "yvk_1", "api_secret": "yvs_SECRET_2"}


async def test_raw_parse_raises_decode_error_for_a_bad_body() -> None:
    async def bad(request: y.Request) -> y.Response:
        return json_response(200, {"unexpected": True}, {"X-Request-Id": "req_bad"})

    async with y.YativoClient(access_token="t", rate_limits=[],
                              transport=y.MockTransport(bad)) as client:
        raw = await client.api_keys.with_raw_response.get("key_1")
        assert raw.request_id == "req_bad"
        with pytest.raises(y.ResponseDecodeError) as info:
            raw.parse()
        assert info.value.request_id == "req_bad"
        assert "req_bad" in str(info.value) and "request_id='req_bad'" in repr(info.value)
        with pytest.raises(y.ResponseDecodeError, match="req_bad"):
            await client.api_keys.get("key_1")  # the plain method: the same error


async def test_errors_carry_the_request_id_and_show_it_in_repr() -> None:
    async def denied(request: y.Request) -> y.Response:
        return json_response(404, {"message": "no such key, token tok_USER"},
                             {"X-Request-Id": "req_404"})

    async with y.YativoClient(access_token="tok_USER", rate_limits=[],
                              transport=y.MockTransport(denied)) as client:
        with pytest.raises(y.NotFoundError) as info:
            await client.api_keys.get("key_9")
    error = info.value
    assert error.request_id == "req_404"
    text = repr(error)
    assert "status=404" in text and "request_id='req_404'" in text
    assert "tok_USER" not in text and "tok_USER" not in str(error)


# -- the client-side RateLimitError ------------------------------------------------------


async def test_client_side_rate_limit_error_does_not_say_http_429() -> None:
    recorder = Recorder(answer)
    async with y.YativoClient(access_token="t", rate_limits=[y.RateLimit(1, 60.0)],
                              transport=y.MockTransport(recorder)) as client:
        await client.api_keys.list()
        with pytest.raises(y.RateLimitError) as info:
            await client.with_options(max_wait=0).api_keys.list()
    error = info.value
    assert error.from_client and error.retry_after is not None
    assert "HTTP 429" not in str(error) and "429" not in repr(error)
    assert "client-side" in str(error)
    server = y.RateLimitError("Too Many Requests", request_id="req_1")
    assert str(server).startswith("HTTP 429")


# -- models that serialise -----------------------------------------------------------------


def test_to_dict_and_to_json_mask_secrets_unless_revealed() -> None:
    from yativo_async._converter import decode

    created = decode(json.dumps(CREATED).encode(), y.CreatedApiKey)
    masked = created.to_dict()
    assert masked["api_secret"] == "**********"
    assert masked["created_at"] == "2024-01-01T00:00:00Z"
    assert "yvs_SECRET_1" not in created.to_json()
    assert json.loads(created.to_json(reveal_secrets=True))["api_secret"] == "yvs_SECRET_1"
    assert created.to_json(indent=2).startswith("{\n  ")
    token = y.AccessToken(access_token=y.Secret("tok_XYZ"))
    assert token.to_dict() == {"access_token": "**********", "expires_in": 3600,
                               "token_type": "Bearer"}


def test_to_jsonable_of_a_list_is_what_a_web_route_returns() -> None:
    keys = [y.ApiKey(id="k1", name="a", request_id="r"), y.ApiKey(id="k2", name="b")]
    data = y.to_jsonable(keys)
    # FastAPI/Starlette's JSONResponse and aiohttp's json_response call json.dumps on it.
    assert json.loads(json.dumps(data)) == data
    assert [d["id"] for d in data] == ["k1", "k2"]
    with pytest.raises(TypeError, match="model"):
        y.to_jsonable(object())  # type: ignore[call-overload]


def test_client_options_lists_every_constructor_argument() -> None:
    """``from_env(**overrides)`` is typed by `ClientOptions`: it must not drift from
    `YativoClient.__init__` (a new argument would be a mypy error in from_env)."""
    import inspect
    import typing

    params = inspect.signature(y.YativoClient.__init__).parameters
    assert set(y.ClientOptions.__annotations__) == set(params) - {"self"}
    # Resolvable at run time too (documentation tools, FastAPI-style introspection).
    assert "overrides" in typing.get_type_hints(y.YativoClient.from_env)


# -- fail fast -----------------------------------------------------------------------------


def test_no_credentials_fails_at_construction_naming_arguments_and_variables() -> None:
    with pytest.raises(ValueError) as info:
        y.YativoClient()
    message = str(info.value)
    for name in ("api_key", "api_secret", "access_token", "token_provider",
                 "YATIVO_API_KEY", "YATIVO_API_SECRET", "YATIVO_ACCESS_TOKEN"):
        assert name in message
    with pytest.raises(ValueError, match=r"api_secret \(YATIVO_API_SECRET\) is missing"):
        y.YativoClient(api_key="yvk_1")


def test_from_env_without_credentials_fails_and_a_misspelt_option_is_a_type_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("YATIVO_API_KEY", "YATIVO_API_SECRET", "YATIVO_ACCESS_TOKEN", "YATIVO_LOG"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match="YATIVO_API_KEY"):
        y.YativoClient.from_env()
    monkeypatch.setenv("YATIVO_ACCESS_TOKEN", "tok")
    with pytest.raises(TypeError, match="max_wiat"):
        y.YativoClient.from_env(max_wiat=2.0)  # type: ignore[call-arg]
    assert y.YativoClient.from_env(max_wait=2.0).base_url == y.DEFAULT_BASE_URL


def test_blank_credentials_fail_at_construction_and_env_values_are_trimmed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A blank token or secret is refused when the client is made, not as a 401 at the
    # first call of a web app hours later.
    with pytest.raises(ValueError, match="access_token must not be empty or blank"):
        y.YativoClient(access_token="   ")
    with pytest.raises(ValueError, match="api_secret must not be empty or blank"):
        y.YativoClient(api_key="yvk_1", api_secret=y.Secret(" \t"))
    for var in ("YATIVO_API_KEY", "YATIVO_API_SECRET", "YATIVO_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    # A blank variable is an unset one: the error names what to set.
    monkeypatch.setenv("YATIVO_ACCESS_TOKEN", " \n")
    with pytest.raises(ValueError, match="has no credentials"):
        y.YativoClient.from_env()
    # A value with a stray newline (a .env file) means the value without it.
    monkeypatch.setenv("YATIVO_ACCESS_TOKEN", "tok\r\n")
    client = y.YativoClient.from_env()
    provider = client.token_provider
    assert isinstance(provider, y.StaticTokenProvider)
    assert provider.ready().value.get_secret_value() == "tok"


async def test_a_generated_keys_rate_limit_block_is_adopted_where_stricter() -> None:
    def server(request: y.Request) -> y.Response:
        return json_response(200, {"success": True, "data": {
            **CREATED, "rate_limit": {"requests_per_minute": 10, "requests_per_hour": 9000,
                                      "requests_per_day": 0}}})

    async with y.YativoClient(access_token="tok_USER", transport=y.MockTransport(server),
                              two_factor=TOTP) as client:
        gen = await client.api_keys.generate(name="n")
        assert gen.rate_limit is not None
        # 10/min is stricter: kept; 9,000/h is looser and a count of 0 says nothing
        assert client.rate_limits == (y.RateLimit(10, 60.0), y.RateLimit(3000, 3600.0),
                                      y.RateLimit(50_000, 86_400.0))


async def test_generate_sends_a_2fa_code_when_one_is_to_hand_and_asks_no_person() -> None:
    # Doc 000 sends no code with generate; doc 002 says every key operation needs one.
    import pyotp

    recorder = Recorder(answer)
    async with make_client(recorder) as client:  # a TOTP secret: a code goes
        await client.api_keys.generate(name="n")
    assert recorder.requests[0].headers["X-2FA-Token"] == pyotp.TOTP(TOTP).now()
    asked: list[int] = []

    def prompt() -> str:
        asked.append(1)
        return "123456"

    recorder = Recorder(answer)
    async with y.YativoClient(access_token="tok_USER", base_url="https://api.test/api",
                              two_factor=prompt, transport=y.MockTransport(recorder),
                              rate_limits=[]) as client:
        await client.api_keys.generate(name="n")  # a person at a prompt is not asked
        await client.api_keys.generate(name="n", two_factor_code="654321")
    assert asked == []
    assert "X-2FA-Token" not in recorder.requests[0].headers
    assert recorder.requests[1].headers["X-2FA-Token"] == "654321"
    assert "two_factor_token" not in json.loads(recorder.requests[1].body or b"")


async def test_unknown_permission_strings_still_pass_at_run_time() -> None:
    recorder = Recorder(answer)
    async with make_client(recorder) as client:
        await client.api_keys.create(
            name="n", permissions=["read", y.CustomPermission("reports:read"),
                                   y.Permission.WRITE])
        new_scope: Any = "raed"  # what an untyped caller may pass: sent as is
        await client.api_keys.update_permissions("key_1", [new_scope])
    assert json.loads(recorder.requests[0].body or b"")["permissions"] == [
        "read", "reports:read", "write"]
    assert json.loads(recorder.requests[1].body or b"")["permissions"] == ["raed"]


# -- 2FA -----------------------------------------------------------------------------------


def test_a_totp_secret_pyotp_refuses_gets_pyotps_reason() -> None:
    short = "JBSWY3DPEHPK3PXP"  # 80 bits: pyotp >= 2.12 wants 112
    with pytest.raises(ValueError, match="112 bits") as info:
        y.YativoClient(access_token="t", two_factor=short)
    assert short not in str(info.value)
    with pytest.raises(ValueError, match="base32"):
        y.YativoClient(access_token="t", two_factor="not base32 !!")


# -- logging -------------------------------------------------------------------------------


def test_yativo_log_configures_the_logger_only_when_logging_is_not_set_up() -> None:
    logger = logging.Logger("yativo_async.test")
    root = logging.Logger("root.test")
    handler = configure_from_env({"YATIVO_LOG": "debug"}, logger=logger, root=root)
    assert handler is not None and logger.handlers == [handler]
    assert logger.level == logging.DEBUG
    # Once is enough: a second client adds nothing.
    assert configure_from_env({"YATIVO_LOG": "debug"}, logger=logger, root=root) is None
    assert len(logger.handlers) == 1
    # An application that configured logging is left alone.
    configured_logger = logging.Logger("yativo_async.other")
    configured_root = logging.Logger("root.other")
    configured_root.addHandler(logging.NullHandler())
    assert configure_from_env({"YATIVO_LOG": "info"}, logger=configured_logger,
                              root=configured_root) is None
    assert configured_logger.handlers == [] and configured_logger.level == logging.NOTSET
    assert configure_from_env({}, logger=configured_logger, root=root) is None
    with pytest.raises(ValueError, match="is not a log level: use one of debug, info"):
        configure_from_env({"YATIVO_LOG": "verbose"}, logger=configured_logger, root=root)


def test_yativo_log_debug_shows_requests_on_stderr_without_secrets() -> None:
    program = (
        "import asyncio, json, yativo_async as y\n"
        "async def answer(request):\n"
        "    return y.Response(status=200, headers={'x-request-id': 'req_77'},\n"
        "                      body=json.dumps({'keys': []}).encode())\n"
        "async def main():\n"
        "    async with y.YativoClient(access_token='tok_SECRET_VALUE',\n"
        "                              transport=y.MockTransport(answer)) as c:\n"
        "        await c.api_keys.list()\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "YATIVO_LOG": "debug"}
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                          text=True, timeout=60, cwd=os.getcwd(), check=False)
    assert done.returncode == 0, done.stderr
    assert "DEBUG yativo_async: GET /apikey/list -> 200" in done.stderr
    assert "req_77" in done.stderr
    assert "tok_SECRET_VALUE" not in done.stderr
    quiet = subprocess.run([sys.executable, "-c", program],
                           env={k: v for k, v in env.items() if k != "YATIVO_LOG"},
                           capture_output=True, text=True, timeout=60, check=False)
    assert quiet.returncode == 0 and quiet.stderr == ""


# -- over every transport (aiohttp and httpx on a loopback socket, and in-process) ---------


async def test_view_headers_and_raw_request_id_over_every_transport(
    served: tuple[FakeYativo, y.YativoClient],
) -> None:
    fake, client = served
    view = client.with_options(extra_headers={"X-Correlation-Id": "corr-1"}, timeout=5)
    raw = await view.api_keys.with_raw_response.create(name="svc", permissions=["read"],
                                                      extra_headers={"X-Step": "2"})
    created = raw.parse()
    entry = fake.journal[-1]
    assert entry.route == "create"
    assert entry.headers["x-correlation-id"] == "corr-1" and entry.headers["x-step"] == "2"
    assert raw.status == 201 and raw.attempts == 1  # the fake answers a create with 201
    assert raw.request_id is not None and raw.request_id.startswith("req_")
    assert created.request_id == raw.request_id
    assert raw.headers["x-request-id"] == raw.request_id
    with pytest.raises(y.NotFoundError) as info:
        await view.api_keys.get("key_missing")
    assert info.value.request_id is not None
    assert f"request_id='{info.value.request_id}'" in repr(info.value)
    await view.aclose()
    assert not client.closed
    assert await client.api_keys.list()  # the pool the view shared is still open
