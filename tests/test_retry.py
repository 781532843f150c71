"""Retries with tenacity: what is retried, how long it waits, and what never is."""

from __future__ import annotations

import asyncio
import logging

import pytest

import yativo_async as y
from yativo_async.testing import FakeYativo


def now() -> float:
    return asyncio.get_running_loop().time()


class Script:
    """Answers from a list; each item a Response or an exception to raise."""

    def __init__(self, *items: y.Response | BaseException) -> None:
        self.items = list(items)
        self.times: list[float] = []

    async def __call__(self, request: y.Request) -> y.Response:
        self.times.append(now())
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        if isinstance(item, BaseException):
            raise item
        return item


OK_LIST = y.Response(status=200, body=b'{"keys": []}')
CREATED = y.Response(status=201, body=b'{"id": "k", "name": "n", "api_key": "a", "api_secret": "s"}')


def status(code: int, **headers: str) -> y.Response:
    return y.Response(status=code, headers=headers, body=b'{"message": "x"}')


def client(script: Script, **kw: object) -> y.YativoClient:
    kw.setdefault("rate_limits", [])
    return y.YativoClient(access_token="t", transport=y.MockTransport(script),
                          two_factor=lambda: "123456", seed=1, **kw)  # type: ignore[arg-type]


@pytest.mark.looptime
@pytest.mark.parametrize(
    "failure",
    [status(429), status(500), status(502), status(503), status(504),
     y.APIConnectionError("reset"), y.APITimeoutError("slow")],
)
async def test_idempotent_calls_are_retried(failure: y.Response | Exception) -> None:
    script = Script(failure, OK_LIST)
    async with client(script) as c:
        assert await c.api_keys.list() == []
        assert c.stats.retries == 1
    assert len(script.times) == 2


@pytest.mark.looptime
@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422])
async def test_client_errors_are_not_retried(code: int) -> None:
    script = Script(status(code), OK_LIST)
    async with client(script) as c:
        with pytest.raises(y.APIStatusError):
            await c.api_keys.get("k")
    assert len(script.times) == 1


@pytest.mark.looptime
async def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    script = Script(status(503))
    policy = y.RetryPolicy(max_attempts=6, backoff_base=1.0, backoff_max=4.0, max_elapsed=1000)
    async with client(script, retry=policy) as c:
        with pytest.raises(y.ServerError):
            await c.api_keys.list()
    gaps = [b - a for a, b in zip(script.times, script.times[1:], strict=False)]
    assert len(script.times) == 6  # attempts cap
    for attempt, gap in enumerate(gaps, start=1):
        assert 0 <= gap <= min(4.0, 2 ** (attempt - 1)) + 1e-9


@pytest.mark.looptime
async def test_total_time_cap() -> None:
    script = Script(status(503, **{"retry-after": "10"}))
    policy = y.RetryPolicy(max_attempts=100, max_elapsed=35.0, max_retry_after=60)
    async with client(script, retry=policy) as c:
        with pytest.raises(y.ServerError):
            await c.api_keys.list()
    assert len(script.times) == 4  # t = 0, 10, 20, 30; a fifth would pass 35 s
    assert now() == pytest.approx(30.0)


@pytest.mark.looptime
@pytest.mark.parametrize("value", ["7", "Thu, 01 Jan 2099 00:00:00 GMT"])
async def test_retry_after_wins_or_fails_at_once(value: str) -> None:
    script = Script(status(429, **{"retry-after": value}), OK_LIST)
    async with client(script) as c:
        if value == "7":
            await c.api_keys.list()
            assert script.times[1] - script.times[0] == pytest.approx(7.0)
        else:  # decades away: fail now with retry_after, never sleep on it
            with pytest.raises(y.RateLimitError) as info:
                await c.api_keys.list()
            assert info.value.retry_after is not None
            assert info.value.retry_after > 10**8
            assert now() == 0 or len(script.times) == 1


@pytest.mark.looptime
@pytest.mark.parametrize(
    "failure",
    [status(500), status(502), status(504), status(503), y.APIConnectionError("dropped"),
     y.APITimeoutError("slow")],
)
async def test_create_is_not_replayed_when_it_may_have_happened(failure: object) -> None:
    script = Script(failure, CREATED)  # type: ignore[arg-type]
    async with client(script) as c:
        with pytest.raises(y.OutcomeUnknownError) as info:
            await c.api_keys.create(name="Payments prod")
    assert len(script.times) == 1
    assert info.value.key_name == "Payments prod"
    assert "Payments prod" in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.looptime
@pytest.mark.parametrize(
    "failure",
    [status(429, **{"retry-after": "2"}), status(503, **{"retry-after": "2"}),
     y.APIConnectionError("refused", maybe_sent=False)],
)
async def test_create_is_retried_when_the_server_provably_did_not_act(failure: object) -> None:
    script = Script(failure, CREATED)  # type: ignore[arg-type]
    async with client(script) as c:
        created = await c.api_keys.create(name="n")
    assert created.id == "k"
    assert len(script.times) == 2


@pytest.mark.looptime
async def test_generate_and_rotate_outcome_unknown() -> None:
    async with client(Script(status(502))) as c:
        with pytest.raises(y.OutcomeUnknownError, match="Backend"):
            await c.api_keys.generate(name="Backend")
        with pytest.raises(y.OutcomeUnknownError, match="second rotation") as info:
            await c.api_keys.rotate("key_1")
        assert info.value.key_id == "key_1"


@pytest.mark.looptime
async def test_revoke_and_permissions_are_replayed() -> None:
    ok = y.Response(status=200, body=b'{"success": true}')
    for call in ("revoke", "update_permissions"):
        script = Script(status(500), ok)
        async with client(script) as c:
            if call == "revoke":
                await c.api_keys.revoke("k")
            else:
                await c.api_keys.update_permissions("k", ["read"])
        assert len(script.times) == 2


@pytest.mark.looptime
async def test_cancellation_is_never_retried() -> None:
    script = Script(status(503))
    async with client(script, retry=y.RetryPolicy(backoff_base=10, backoff_max=10)) as c:
        task = asyncio.create_task(c.api_keys.list())
        await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(100)
    assert len(script.times) == 1


@pytest.mark.looptime
async def test_every_retry_takes_a_slot() -> None:
    script = Script(status(503), status(503), OK_LIST)
    async with client(script, rate_limits=[y.RateLimit(2, 60.0)],
                      retry=y.RetryPolicy(max_elapsed=500)) as c:
        await c.api_keys.list()
    assert script.times[2] >= 60.0  # the third attempt waited for the window


@pytest.mark.looptime
async def test_attempts_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="yativo_async")
    async with client(Script(status(502), OK_LIST)) as c:
        await c.api_keys.list()
    messages = [r.getMessage() for r in caplog.records]
    assert any("attempt 1 failed (ServerError)" in m for m in messages)
    assert sum("GET /apikey/list ->" in m for m in messages) == 2
    assert any("-> 200 (attempt 2," in m for m in messages)


@pytest.mark.looptime
async def test_retries_against_fake_faults() -> None:
    fake = FakeYativo(seed=7)
    fake.set_faults("list", error_rate=0.5, error_statuses=(502, 503, 504))
    async with y.YativoClient(access_token=fake.access_token, transport=fake.transport(),
                              retry=y.RetryPolicy(max_attempts=20, max_elapsed=3600)) as c:
        for _ in range(20):
            assert await c.api_keys.list() == []
        assert c.stats.retries > 0
        assert c.stats.retries == fake.count("route:list") - 20


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        y.RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="max_elapsed"):
        y.RetryPolicy(max_elapsed=-1)


@pytest.mark.looptime
async def test_totp_code_is_fresh_on_every_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import pyotp

    codes = (f"{n:06d}" for n in range(111111, 999999, 111111))
    monkeypatch.setattr(pyotp.TOTP, "now", lambda self: next(codes))
    seen: list[tuple[str, str]] = []

    def handler(request: y.Request) -> y.Response:
        body = json.loads(request.body or b"{}")
        seen.append((request.headers["X-2FA-Token"], body["two_factor_token"]))
        if len(seen) == 1:
            return status(429, **{"retry-after": "45"})  # past the code's 30 s step
        return CREATED

    async with y.YativoClient(access_token="t", transport=y.MockTransport(handler),
                              rate_limits=[], two_factor="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP") as c:
        await c.api_keys.create(name="n")
    # header and body agree, and the retry carried a new code
    assert [h for h, b in seen] == [b for h, b in seen]
    assert seen[0][0] != seen[1][0]


@pytest.mark.looptime
async def test_a_given_code_or_callable_is_asked_once_per_call() -> None:
    asked = 0

    def prompt() -> str:
        nonlocal asked
        asked += 1
        return "123456"

    script = Script(status(503), y.Response(status=200, body=b'{"success": true}'))
    async with client(script) as c:
        c._two_factor = y.TwoFactor(prompt)
        await c.api_keys.revoke("k")
        await c.api_keys.revoke("k", two_factor_code="654321")
    assert asked == 1  # a person at a prompt is not asked again for a retry


@pytest.mark.looptime
@pytest.mark.parametrize(("client_wait", "call_wait", "fails_fast"), [
    (2.0, None, True),  # the client's max_wait
    (None, 2.0, True),  # a call's own (with_options)
    (None, None, False),  # no limit: the server's 30 s are waited out
    (60.0, None, False),  # 30 s is within it
])
@pytest.mark.parametrize("rate_limits", [None, []], ids=["limited", "unlimited"])
async def test_a_429_asking_longer_than_max_wait_fails_fast(
    client_wait: float | None, call_wait: float | None, fails_fast: bool,
    rate_limits: list[y.RateLimit] | None,
) -> None:
    # With rate_limits=[] (no budget of its own) the client's max_wait still bounds the
    # wait for a server's Retry-After.
    seen: list[float] = []

    def server(request: y.Request) -> y.Response:
        seen.append(asyncio.get_running_loop().time())
        if len(seen) == 1:
            return y.Response(status=429, headers={"retry-after": "30"},
                              body=b'{"message": "slow down"}')
        return y.Response(status=200, body=b'{"keys": []}')

    loop = asyncio.get_running_loop()
    limits = {} if rate_limits is None else {"rate_limits": rate_limits}
    async with y.YativoClient(access_token="t" * 10, transport=y.MockTransport(server),
                              max_wait=client_wait, **limits) as client:
        view = client if call_wait is None else client.with_options(max_wait=call_wait)
        start = loop.time()
        if fails_fast:
            with pytest.raises(y.RateLimitError) as info:
                await view.api_keys.list()
            assert info.value.retry_after == pytest.approx(30)
            assert not info.value.from_client  # the server's 429, as it said it
            assert loop.time() - start < 1 and len(seen) == 1
        else:
            assert await view.api_keys.list() == []
            assert loop.time() - start >= 30 and len(seen) == 2
