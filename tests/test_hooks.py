"""Event hooks (`_hooks.py`): what each event says, that a hook never breaks or slows a call
(rules 2 and 3), and that no event holds a secret (rule 1)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

import yativo_async as y
from yativo_async.testing import FakeYativo


def now() -> float:
    return asyncio.get_running_loop().time()


OK_LIST = y.Response(status=200, headers={"x-request-id": "req-1"}, body=b'{"keys": []}')


def status(code: int, **headers: str) -> y.Response:
    return y.Response(status=code, headers=headers, body=b'{"message": "x"}')


class Script:
    """Answers from a list; each item a Response or an exception to raise."""

    def __init__(self, *items: y.Response | BaseException, delay: float = 0.0) -> None:
        self.items = list(items)
        self.delay = delay

    async def __call__(self, request: y.Request) -> y.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        if isinstance(item, BaseException):
            raise item
        return item


class Log:
    """Every event, in order, from sync hooks on every event."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def hooks(self) -> y.Hooks:
        return y.Hooks(on_request=self, on_response=self, on_retry=self,
                       on_rate_limit_wait=self, on_token_exchange=self, on_call_end=self)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def client(script: Script, hooks: Any, **kw: Any) -> y.YativoClient:
    kw.setdefault("rate_limits", [])
    return y.YativoClient(access_token="t", transport=y.MockTransport(script), hooks=hooks,
                          seed=1, **kw)


@pytest.mark.looptime
async def test_a_retried_call_reports_each_step_in_order() -> None:
    log = Log()
    async with client(Script(status(503, **{"retry-after": "2"}), OK_LIST, delay=0.5),
                      log.hooks()) as c:
        t0 = now()
        assert await c.api_keys.list() == []
        assert now() - t0 == pytest.approx(3.0)
    kinds = [type(e).__name__ for e in log.events]
    assert kinds == ["RequestEvent", "ResponseEvent", "RetryEvent", "RequestEvent",
                     "ResponseEvent", "CallEndEvent"]
    req1, resp1, retry, req2, resp2, end = log.events
    assert {e.call_id for e in log.events} == {req1.call_id}
    assert (req1.operation, req1.method, req1.path, req1.attempt) == ("list", "GET", "/apikey/list", 1)
    assert (resp1.status, resp1.attempt, resp1.error) == (503, 1, None)
    assert resp1.elapsed == pytest.approx(0.5)
    assert (retry.attempt, retry.wait, retry.error, retry.status) == (1, 2.0, "ServerError", 503)
    assert (req2.attempt, resp2.status, resp2.request_id) == (2, 200, "req-1")
    assert (end.ok, end.status, end.attempts, end.retries, end.error) == (True, 200, 2, 1, None)
    assert end.elapsed == pytest.approx(3.0)


@pytest.mark.looptime
async def test_the_retry_event_comes_before_the_wait() -> None:
    seen: list[float] = []
    async with client(Script(status(503, **{"retry-after": "30"}), OK_LIST),
                      y.Hooks(on_retry=lambda e: seen.append(now()))) as c:
        t0 = now()
        await c.api_keys.list()
    assert seen == [pytest.approx(t0)]


@pytest.mark.looptime
async def test_a_failed_send_and_a_failed_call_are_reported() -> None:
    log = Log()
    policy = y.RetryPolicy(max_attempts=2)
    async with client(Script(y.APIConnectionError("reset")), log.hooks(), retry=policy) as c:
        with pytest.raises(y.APIConnectionError):
            await c.api_keys.get("key_1")
    responses = log.of(y.ResponseEvent)
    assert [(r.status, r.error) for r in responses] == [(None, "APIConnectionError")] * 2
    (end,) = log.of(y.CallEndEvent)
    assert (end.ok, end.status, end.attempts, end.retries, end.error, end.path) == (
        False, None, 2, 1, "APIConnectionError", "/apikey/key_1")


@pytest.mark.looptime
async def test_the_call_end_names_the_error_the_caller_gets() -> None:
    log = Log()
    async with client(Script(status(500)), log.hooks(), two_factor=lambda: "123456") as c:
        with pytest.raises(y.OutcomeUnknownError):
            await c.api_keys.create(name="n")
    (end,) = log.of(y.CallEndEvent)
    assert (end.ok, end.error, end.status, end.operation) == (
        False, "OutcomeUnknownError", 500, "create")


@pytest.mark.looptime
async def test_a_wait_for_budget_is_reported_with_its_length() -> None:
    log = Log()
    async with client(Script(OK_LIST), log.hooks(), rate_limits=[y.RateLimit(1, 60.0)]) as c:
        await c.api_keys.list()
        assert log.of(y.RateLimitWaitEvent) == []  # no wait, no event
        await c.api_keys.list()
    (wait,) = log.of(y.RateLimitWaitEvent)
    assert (wait.waited, wait.lane, wait.operation) == (pytest.approx(60.0), "interactive", "list")
    assert log.of(y.CallEndEvent)[-1].waited == pytest.approx(60.0)


@pytest.mark.looptime
async def test_a_401_replay_is_a_second_request_of_the_same_attempt(fake: FakeYativo) -> None:
    key = fake.add_key()
    log = Log()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), rate_limits=[], hooks=log.hooks()) as c:
        await c.api_keys.list()
        fake._tokens.clear()  # the server forgets every token: the next call gets a 401
        await c.api_keys.list()
    lists = [e for e in log.of(y.RequestEvent) if e.operation == "list"]
    assert [e.attempt for e in lists] == [1, 1, 1]
    assert [e.reason for e in log.of(y.TokenExchangeEvent)] == ["cold", "401"]


@pytest.mark.looptime
async def test_token_exchanges_are_reported_with_reason_and_outcome(fake: FakeYativo) -> None:
    key = fake.add_key()
    log = Log()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), rate_limits=[], hooks=log.hooks(),
                              token_skew=0) as c:
        await c.api_keys.list()
        await asyncio.sleep(3600)
        await c.api_keys.list()
        await c.auth.exchange_token()
    exchanges = log.of(y.TokenExchangeEvent)
    assert [(e.reason, e.ok, e.expires_in, e.error) for e in exchanges] == [
        ("cold", True, 3600.0, None), ("expiry", True, 3600.0, None),
        ("explicit", True, None, None)]  # an explicit exchange's token is the caller's
    # Each exchange is also a call of its own.
    ends = [e for e in log.of(y.CallEndEvent) if e.operation == "token exchange"]
    assert len(ends) == 3 and all(e.ok for e in ends)

    log = Log()
    async with y.YativoClient(api_key=key.api_key, api_secret="wrong",
                              transport=fake.transport(), rate_limits=[], hooks=log.hooks()) as c:
        with pytest.raises(y.AuthenticationError):
            await c.api_keys.list()
    (failed,) = log.of(y.TokenExchangeEvent)
    assert (failed.reason, failed.ok, failed.expires_in, failed.error) == (
        "cold", False, None, "AuthenticationError")


# -- rule 2: a hook never breaks a call ---------------------------------------------------


@pytest.mark.looptime
async def test_a_raising_hook_is_logged_once_and_the_calls_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="yativo_async")
    seen: list[int] = []

    def broken(event: y.RequestEvent) -> None:
        raise RuntimeError("hook bug")

    async def broken_async(event: y.ResponseEvent) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async hook bug")

    hooks = y.Hooks(on_request=[broken, lambda e: seen.append(e.attempt)],
                    on_response=broken_async)
    async with client(Script(OK_LIST), hooks) as c:
        for _ in range(3):
            assert await c.api_keys.list() == []
    assert seen == [1, 1, 1]  # the hook after the broken one still ran
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "broken" in warnings[0].getMessage() and warnings[0].exc_info is not None
    assert "broken_async" in warnings[1].getMessage()
    again = [r for r in caplog.records if "failed again" in r.getMessage()]
    assert len(again) == 4 and all(r.levelno == logging.DEBUG for r in again)


@pytest.mark.looptime
async def test_a_raising_observer_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Bad(y.Observer):
        def call_end(self, event: y.CallEndEvent) -> None:
            raise ValueError("observer bug")

    log = Log()
    async with client(Script(OK_LIST), [Bad(), log.hooks()]) as c:
        await c.api_keys.list()
        await c.api_keys.list()
    assert len(log.of(y.CallEndEvent)) == 2
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "CallEndEvent" in warnings[0].getMessage()


@pytest.mark.looptime
async def test_what_a_sync_hook_returns_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    async with client(Script(OK_LIST), y.Hooks(on_request=lambda e: 42)) as c:
        await c.api_keys.list()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# -- rule 3: a hook never slows a call ----------------------------------------------------


@pytest.mark.looptime
async def test_an_async_hook_runs_beside_the_call_and_close_waits_for_it() -> None:
    done: list[float] = []

    async def slow(event: y.CallEndEvent) -> None:
        await asyncio.sleep(0.5)
        done.append(now())

    c = client(Script(OK_LIST), y.Hooks(on_call_end=slow))
    t0 = now()
    await c.api_keys.list()
    assert now() == t0 and done == []  # the call did not wait for its hook
    await c.aclose()
    assert done == [pytest.approx(t0 + 0.5)]


@pytest.mark.looptime
async def test_close_cancels_async_hooks_past_the_grace(caplog: pytest.LogCaptureFixture) -> None:
    cancelled: list[bool] = []

    async def hung(event: y.CallEndEvent) -> None:
        try:
            await asyncio.sleep(10_000)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    c = client(Script(OK_LIST), y.Hooks(on_call_end=hung))
    await c.api_keys.list()
    t0 = now()
    await c.aclose()
    assert now() - t0 == pytest.approx(y._hooks.DRAIN_GRACE)
    assert cancelled == [True]
    assert any("cancelled" in r.getMessage() for r in caplog.records)
    # a cancelled hook is not a failing hook (and its done-callback does not raise)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not any("raised" in r.getMessage() for r in caplog.records)


@pytest.mark.looptime
async def test_one_hooks_object_on_two_clients_closing_one_leaves_the_others_hooks_alone() -> None:
    ended: list[tuple[str, str]] = []

    async def slow(event: y.CallEndEvent) -> None:
        which = "a" if event.operation == "list" else "b"
        try:
            await asyncio.sleep(5 if which == "a" else 3)
            ended.append((which, "done"))
        except asyncio.CancelledError:
            ended.append((which, "cancelled"))
            raise

    shared = y.Hooks(on_call_end=slow)
    a = client(Script(OK_LIST), shared)
    b = client(Script(y.Response(status=200, headers={}, body=b'{"id": "k1", "name": "n"}')),
               shared)
    await a.api_keys.list()
    await b.api_keys.get("k1")
    t0 = now()
    await a.aclose()  # a's hook is past the grace; b's is not a's to end
    assert now() - t0 == pytest.approx(y._hooks.DRAIN_GRACE)
    assert ended == [("a", "cancelled")]
    await asyncio.sleep(3)
    assert ended == [("a", "cancelled"), ("b", "done")]
    await b.aclose()


# -- arguments ----------------------------------------------------------------------------


def test_bad_hooks_are_refused_before_anything_runs() -> None:
    with pytest.raises(TypeError, match="on_retry must be a callable"):
        y.Hooks(on_retry=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_request must be a callable"):
        y.Hooks(on_request=[print, "x"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"hooks must be a yativo_async\.Hooks"):
        y.YativoClient(access_token="t", hooks=print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not dict"):
        y.YativoClient(access_token="t", hooks=[{}])  # type: ignore[list-item]


def test_no_hooks_means_no_observer_in_the_pipeline() -> None:
    assert y.YativoClient(access_token="t")._pipeline.hooks is None
    assert y.YativoClient(access_token="t", hooks=[])._pipeline.hooks is None
    assert repr(y.Hooks(on_retry=print, on_call_end=print)) == "Hooks(on_retry, on_call_end)"


EVENTS = [y.CallStartEvent, y.RequestEvent, y.ResponseEvent, y.RetryEvent,
          y.RateLimitWaitEvent, y.TokenExchangeEvent, y.CallEndEvent]


@pytest.mark.parametrize("kind", EVENTS)
def test_events_are_frozen_small_and_keyword_only(kind: type) -> None:
    import attrs

    fields = attrs.fields(kind)
    with pytest.raises(TypeError):
        kind(*range(len(fields)))  # keyword-only: fields may be added without breaking hooks
    event = kind(**{f.name: 1 for f in fields})
    assert not hasattr(event, "__dict__")  # slots
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(event, fields[0].name, 2)


@pytest.mark.looptime
async def test_closing_with_no_async_hook_running_is_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client(Script(OK_LIST), Log().hooks()) as c:
        await c.api_keys.list()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# -- rule 1: no secret in any event -------------------------------------------------------


class Wire:
    """A transport in front of the fake that collects every secret that crossed it: the API
    secrets sent and received, bearer tokens, 2FA codes."""

    def __init__(self, fake: FakeYativo) -> None:
        self.inner = fake.transport()
        self.secrets: set[str] = set()

    async def send(self, request: y.Request) -> y.Response:
        auth = request.headers.get("Authorization", "")
        if auth:
            self.secrets.add(auth.removeprefix("Bearer "))
        code = request.headers.get("X-2FA-Token")
        if code:
            self.secrets.add(code)
        body = json.loads(request.body) if request.body else {}
        for field in ("api_secret", "two_factor_token"):
            if isinstance(body, dict) and body.get(field):
                self.secrets.add(body[field])
        response = await self.inner.send(request)
        try:
            answer = json.loads(response.body)
        except ValueError:
            return response
        data = answer.get("data", answer) if isinstance(answer, dict) else {}
        for field in ("access_token", "api_secret"):
            if isinstance(data, dict) and isinstance(data.get(field), str):
                self.secrets.add(data[field])
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def exercise(fake: FakeYativo, hooks: Any) -> set[str]:
    """Every operation, with a key pair and a TOTP secret; the secrets that were on the wire."""
    key = fake.add_key()
    wire = Wire(fake)
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret, transport=wire,
                              two_factor=fake.totp_secret, rate_limits=[], hooks=hooks) as c:
        created = await c.api_keys.create(name="n", permissions=["read"])
        await c.api_keys.list()
        await c.api_keys.get(created.id)
        await c.api_keys.update_permissions(created.id, ["read", "write"])
        await c.api_keys.rotate(created.id)
        await c.auth.exchange_token()
        await c.api_keys.revoke(created.id)
        with pytest.raises(y.NotFoundError):
            await c.api_keys.get("key_missing")
    assert len(wire.secrets) >= 6
    return wire.secrets | {key.api_secret, fake.totp_secret}


@pytest.mark.looptime
async def test_no_event_holds_a_secret(fake: FakeYativo) -> None:
    log = Log()
    secrets = await exercise(fake, log.hooks())
    assert len(log.events) > 20
    text = "\n".join(repr(e) for e in log.events)
    for secret in secrets:
        assert secret not in text


def test_an_event_nobody_wants_is_never_built() -> None:
    class OnlyRetries(y.Observer):
        def retry(self, event: y.RetryEvent) -> None:
            pass

    obs = y._hooks.observers([y.Hooks(on_call_end=print), OnlyRetries()])
    assert obs is not None
    assert obs.request_fns == obs.response_fns == obs.call_start_fns == ()
    assert len(obs.call_end_fns) == 1 and len(obs.retry_fns) == 1
