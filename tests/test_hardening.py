"""Defects 7, 9, 10 and 11 of the hardening issue, each as the caller meets it.

(Defects 1-6 are held by the hostile servers in ``tests/hostile/``.)
"""

from __future__ import annotations

import contextlib
import json
import traceback

import pytest

import yativo_async as y

TOKEN = "tok.en-echoed-by-the-server"
SECRET = "sk_live_the-api-secret-0123456789"
CODE = "482913"


def _json(status: int, payload: object, **headers: str) -> y.Response:
    return y.Response(status=status, headers={"content-type": "application/json", **headers},
                      body=json.dumps(payload).encode())


def _everything_kept(exc: BaseException) -> str:
    """All the text an error carries: str, repr, body, the chain and a formatted traceback."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), str(getattr(seen, "body", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# 7. Header-unsafe values ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["abc\r\nX-Evil: 1", "abc\x00def", "abc\ndef", ""])
async def test_a_token_that_cannot_be_a_header_is_a_decode_error_and_not_cached(bad: str) -> None:
    def answer(request: y.Request) -> y.Response:
        if request.method == "POST":  # the token exchange
            return _json(200, {"access_token": bad, "token_type": "Bearer", "expires_in": 3600})
        raise AssertionError("no call may be sent with a broken token")

    async with y.YativoClient(api_key="k", api_secret=SECRET, transport=y.MockTransport(answer),
                              retry=y.RetryPolicy.none()) as client:
        for _ in range(2):
            with pytest.raises((y.ResponseDecodeError, y.TokenUnavailableError)) as info:
                await client.api_keys.list()
            chain = _everything_kept(info.value)
            assert "ResponseDecodeError" in chain
            assert SECRET not in chain


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"user_agent": "my-app\r\nX-Evil: 1"}, "user_agent"),
        ({"user_agent": "my-app\x00"}, "user_agent"),
        ({"access_token": "SeCrEt\nen"}, "access_token"),
        ({"access_token": y.Secret("SeCrEt\x7fen")}, "access_token"),
    ],
)
def test_caller_headers_are_checked_at_construction(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name) as info:
        y.YativoClient(**kwargs)  # type: ignore[arg-type]
    assert "SeCrEt" not in str(info.value)


# 9. Secrets a server echoes back -----------------------------------------------------------

async def test_the_api_secret_echoed_by_the_token_endpoint_is_masked() -> None:
    def answer(request: y.Request) -> y.Response:
        return _json(401, {"success": False, "message": f"invalid credentials k:{SECRET}",
                           "api_secret": SECRET})

    async with y.YativoClient(api_key="k", api_secret=SECRET, transport=y.MockTransport(answer),
                              retry=y.RetryPolicy.none()) as client:
        with pytest.raises(y.YativoError) as info:
            await client.api_keys.list()
    assert SECRET not in _everything_kept(info.value)


@pytest.mark.parametrize("html", [False, True])
async def test_a_token_and_a_code_echoed_in_an_error_are_masked(html: bool) -> None:
    def answer(request: y.Request) -> y.Response:
        if html:  # a proxy's page, no "Bearer " prefix to recognise
            page = f"<html><head><title>denied {TOKEN} {CODE}</title></head></html>"
            return y.Response(status=403, headers={"content-type": "text/html"},
                              body=page.encode())
        return _json(403, {"success": False,
                           "message": f"token {TOKEN} with code {CODE} may not do this"})

    async with y.YativoClient(access_token=TOKEN, transport=y.MockTransport(answer),
                              retry=y.RetryPolicy.none()) as client:
        with pytest.raises(y.PermissionDeniedError) as info:
            await client.api_keys.revoke("key_1", two_factor_code=CODE)
    kept = _everything_kept(info.value)
    assert TOKEN not in kept
    assert CODE not in kept
    assert "may not do this" in kept or "denied" in kept  # the message itself survives


# 10. base_url ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("https://api.example.com/api?x=1", "query"),
        ("https://api.example.com/api#frag", "fragment"),
        ("https://user:hunter2@api.example.com/api", "user"),
        ("https://api.example.com/a\r\npi", "control"),
        ("https://api.example.com/a pi", "whitespace"),
        ("ftp://api.example.com/api", "http"),
        ("https:///api", "host"),
    ],
)
def test_base_url_is_refused_with_the_reason(url: str, what: str) -> None:
    with pytest.raises(ValueError, match=what) as info:
        y.YativoClient(access_token="t", base_url=url)
    assert "hunter2" not in str(info.value)


# 11. Secrets over plain HTTP ----------------------------------------------------------------

def test_plain_http_to_a_remote_host_is_refused_naming_the_opt_in() -> None:
    with pytest.raises(ValueError, match="allow_insecure_http=True"):
        y.YativoClient(access_token="t", base_url="http://api.example.com/api")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/api", "http://localhost/api", "http://[::1]:9/api",
            "http://127.5.6.7/api"],
)
def test_plain_http_to_loopback_is_fine(url: str) -> None:
    y.YativoClient(access_token="t", base_url=url)


def test_plain_http_with_the_opt_in() -> None:
    y.YativoClient(access_token="t", base_url="http://api.example.com/api",
                   allow_insecure_http=True)


def test_the_opt_in_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YATIVO_ACCESS_TOKEN", "t")
    monkeypatch.setenv("YATIVO_BASE_URL", "http://api.example.com/api")
    with pytest.raises(ValueError, match="YATIVO_ALLOW_INSECURE_HTTP=1"):
        y.YativoClient.from_env()
    monkeypatch.setenv("YATIVO_ALLOW_INSECURE_HTTP", "1")
    y.YativoClient.from_env()
    monkeypatch.setenv("YATIVO_ALLOW_INSECURE_HTTP", "maybe")
    with pytest.raises(ValueError, match="YATIVO_ALLOW_INSECURE_HTTP"):
        y.YativoClient.from_env()


# -- closing, cut short or given bad arguments; hooks that misbehave ---------------------

async def test_a_close_cut_short_still_ends_running_calls_and_lets_go_of_the_pool() -> None:
    import asyncio

    from yativo_async.testing import FakeYativo

    async with FakeYativo() as fake:
        fake.set_faults(latency=3600.0)  # the running call never gets its answer
        client = y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                retry=y.RetryPolicy.none())  # its own aiohttp transport
        running = asyncio.create_task(client.api_keys.list())
        for _ in range(20):  # let it start
            await asyncio.sleep(0)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.aclose(timeout=3600.0), 0.1)  # a shutdown deadline
        with pytest.raises(y.ClientClosedError):
            await running  # ended, not left running against a closed client
        transport = client._transport
        assert isinstance(transport, y.AiohttpTransport)
        for _ in range(500):  # the shielded release finishes on its own
            if transport._closed and transport._session is None:
                break
            await asyncio.sleep(0.01)
        assert transport._closed and transport._session is None


async def test_aclose_with_a_bad_timeout_refuses_before_closing_anything() -> None:
    client = y.YativoClient(access_token="t" * 10,
                            transport=y.MockTransport(lambda r: y.Response(status=200,
                                                                           body=b'{"keys": []}')))
    for bad, kind in (("5", TypeError), (float("nan"), ValueError), (-1, ValueError)):
        with pytest.raises(kind):
            await client.aclose(timeout=bad)  # type: ignore[arg-type]
        assert not client.closed
    assert await client.api_keys.list() == []
    await client.aclose()
    assert client.closed


@pytest.mark.looptime
async def test_an_async_hook_that_ignores_cancellation_cannot_hold_close_up() -> None:
    import asyncio

    from yativo_async._hooks import DRAIN_GRACE

    async def stubborn(event: object) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # swallows close()'s cancellation
            await asyncio.sleep(3600)
        await asyncio.sleep(3600)  # (ends at the next one)

    client = y.YativoClient(access_token="t" * 10, hooks=y.Hooks(on_request=stubborn),
                            transport=y.MockTransport(lambda r: y.Response(status=200,
                                                                           body=b'{"keys": []}')))
    await client.api_keys.list()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await client.aclose()
    assert loop.time() - start <= 2 * DRAIN_GRACE + 0.01


async def test_a_sync_hook_raising_cancelled_error_does_not_end_the_call() -> None:
    import asyncio

    def bad(event: object) -> None:
        raise asyncio.CancelledError()

    async with y.YativoClient(access_token="t" * 10, hooks=y.Hooks(on_request=bad),
                              transport=y.MockTransport(
                                  lambda r: y.Response(status=200, body=b'{"keys": []}'))) as c:
        assert await c.api_keys.list() == []


@pytest.mark.parametrize("field", ["backoff_base", "backoff_max", "max_retry_after",
                                   "max_elapsed"])
@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_retry_policy_refuses_endless_waits(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        y.RetryPolicy(**{field: value})


@pytest.mark.looptime
async def test_backoff_waits_never_pass_max_elapsed() -> None:
    import asyncio

    policy = y.RetryPolicy(max_attempts=10, backoff_base=1e5, backoff_max=1e6, max_elapsed=2.0)
    async with y.YativoClient(access_token="t" * 10, retry=policy, transport=y.MockTransport(
            lambda r: y.Response(status=502, body=b'{"message": "bad gateway"}'))) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(y.APIStatusError):
            await client.api_keys.list()
        assert loop.time() - start <= 2.0 + 1e-6


@pytest.mark.parametrize(("kwargs", "kind"), [
    ({"max_wait": float("nan")}, ValueError), ({"max_wait": float("inf")}, ValueError),
    ({"max_wait": True}, TypeError), ({"token_skew": "x"}, TypeError),
    ({"token_skew": -5}, ValueError), ({"token_skew": float("nan")}, ValueError),
])
def test_the_constructor_checks_what_with_options_checks(kwargs: dict[str, object],
                                                         kind: type[Exception]) -> None:
    with pytest.raises(kind):
        y.YativoClient(api_key="yvk_live_1", api_secret="s" * 10, **kwargs)  # type: ignore[arg-type]


async def test_a_failed_exchange_on_the_old_key_pair_does_not_hold_up_the_new_one() -> None:
    import asyncio

    from yativo_async.testing import FakeYativo

    fake = FakeYativo()
    key = fake.add_key()
    release = asyncio.Event()
    handle = fake.handle

    async def slow_token(method: str, path: str, headers: object, body: bytes) -> object:
        if path.endswith("/apikey/token") and b"WRONG" in body:
            await release.wait()  # the old (wrong) pair's exchange is under way
        return await handle(method, path, headers, body)  # type: ignore[arg-type]

    fake.handle = slow_token  # type: ignore[method-assign]
    async with y.YativoClient(api_key=key.api_key, api_secret="yvs_live_WRONGWRONG",
                              transport=fake.transport(), retry=y.RetryPolicy.none()) as client:
        first = asyncio.create_task(client.api_keys.list())
        for _ in range(20):
            await asyncio.sleep(0)
        await client.rotate_credentials(api_secret=key.api_secret)  # the right pair
        release.set()
        # its exchange ran on the old pair and was refused: the new pair is tried at once,
        # for it too (no backoff armed against the new pair)
        assert [k.id for k in await first] == [key.id]
        assert [k.id for k in await client.api_keys.list()] == [key.id]
    assert fake.token_exchanges == 1  # only the successful one (the refused is not counted)
