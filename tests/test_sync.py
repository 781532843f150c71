"""The blocking facade (`yativo_async.sync`): one per test of its rules 1-4."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import yativo_async as y
from yativo_async import sync
from yativo_async.testing import FakeYativo


def sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "yativo-async-sync"]


@pytest.fixture
def keyed() -> tuple[FakeYativo, Any]:
    fake = FakeYativo(rate_limits=[])
    return fake, fake.add_key()


def facade(fake: FakeYativo, key: Any, **kw: Any) -> sync.YativoClient:
    kw.setdefault("rate_limits", [])
    return sync.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                             transport=fake.transport(), two_factor=fake.totp_secret, **kw)


def test_every_endpoint_blocks_and_returns_the_models(keyed: tuple[FakeYativo, Any]) -> None:
    fake, key = keyed
    with facade(fake, key) as c:
        created = c.api_keys.create(name="n", permissions=["read"])
        assert isinstance(created, y.CreatedApiKey)
        assert [k.id for k in c.api_keys.list()] == [key.id, created.id]
        assert c.api_keys.get(created.id).name == "n"
        c.api_keys.update_permissions(created.id, ["read", "write"])
        rotated = c.api_keys.rotate(created.id)
        assert isinstance(rotated, y.RotatedApiKey)
        assert isinstance(c.auth.exchange_token(), y.AccessToken)
        assert isinstance(c.auth.token(), y.BearerToken)
        c.api_keys.revoke(created.id)
        generated = c.api_keys.generate(name="g", permissions=["accounts:read"])
        assert isinstance(generated, y.CreatedApiKey)
        assert c.stats.calls >= 9 and c.stats.token_exchanges == 2
        assert [w.limit for w in c.rate_limit_status()] == []
        assert c.api_keys.list.__doc__ == y.ApiKeysResource.list.__doc__
        assert c.base_url == y.DEFAULT_BASE_URL
        assert repr(c).startswith("sync.YativoClient(")


def test_errors_are_the_async_clients_own(keyed: tuple[FakeYativo, Any]) -> None:
    fake, key = keyed
    with facade(fake, key) as c:
        with pytest.raises(y.NotFoundError) as info:
            c.api_keys.get("key_missing")
        assert info.value.status == 404
        with pytest.raises(ValueError, match="name must not be empty"):
            c.api_keys.create(name=" ")
        requests = fake.count("requests")
        with pytest.raises(TypeError, match="permissions must be a list"):
            c.api_keys.update_permissions(key.id, "read")  # type: ignore[arg-type]
        assert fake.count("requests") == requests  # refused before sending
    with pytest.raises(ValueError, match="base_url"):
        sync.YativoClient(access_token="t", base_url="ftp://x")
    assert sync_threads() == []  # a failed constructor leaves no thread behind


def test_close_joins_the_thread_and_is_idempotent(keyed: tuple[FakeYativo, Any]) -> None:
    fake, key = keyed
    c = facade(fake, key)
    c.api_keys.list()
    thread = c._runner.thread
    assert thread.is_alive()
    c.close()
    assert not thread.is_alive() and c.closed and c._runner.loop.is_closed()
    assert c.async_client.closed
    c.close()
    with pytest.raises(y.ClientClosedError):
        c.api_keys.list()
    with pytest.raises(y.ClientClosedError), c:
        pass


async def test_usable_inside_a_running_loop_as_in_a_notebook(
    keyed: tuple[FakeYativo, Any],
) -> None:
    fake, key = keyed
    asyncio.get_running_loop()  # a loop runs on this thread, as in Jupyter
    with facade(fake, key) as c:
        assert len(c.api_keys.list()) == 1
        with pytest.raises(y.NotFoundError):
            c.api_keys.get("key_missing")
    assert sync_threads() == []


def test_over_a_real_socket_with_the_default_transport() -> None:
    """The fake serves from its own thread and loop; the facade's aiohttp session lives and
    closes on the facade's loop (an unclosed one would warn, and warnings fail the suite)."""
    ready = threading.Event()
    stop: list[Any] = []
    served: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            async with FakeYativo(rate_limits=[]) as fake:
                served["fake"] = fake
                served["key"] = fake.add_key()
                done = asyncio.Event()
                stop.append((asyncio.get_running_loop(), done))
                ready.set()
                await done.wait()

        asyncio.run(main())

    server = threading.Thread(target=serve)
    server.start()
    try:
        assert ready.wait(10)
        fake, key = served["fake"], served["key"]
        with sync.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                               base_url=fake.base_url, rate_limits=[]) as c:
            assert [k.id for k in c.api_keys.list()] == [key.id]
    finally:
        loop, done = stop[0]
        loop.call_soon_threadsafe(done.set)
        server.join()


def test_a_call_from_the_facades_own_thread_raises_instead_of_deadlocking(
    keyed: tuple[FakeYativo, Any],
) -> None:
    fake, key = keyed
    errors: list[BaseException] = []
    box: list[sync.YativoClient] = []

    def hook(event: y.CallEndEvent) -> None:
        if event.operation == "list":
            try:
                box[0].api_keys.get(key.id)
            except RuntimeError as exc:
                errors.append(exc)

    with facade(fake, key, hooks=y.Hooks(on_call_end=hook)) as c:
        box.append(c)
        c.api_keys.list()
    assert len(errors) == 1 and "its own event loop thread" in str(errors[0])


def test_an_interrupted_wait_cancels_the_call(
    keyed: tuple[FakeYativo, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while a call blocks: the call is cancelled on the loop, not left running."""
    fake, key = keyed
    started = threading.Event()
    cancelled = threading.Event()

    async def hang(request: y.Request) -> y.Response:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    real = asyncio.run_coroutine_threadsafe

    def interrupting(coro: Any, loop: Any) -> Any:
        future = real(coro, loop)

        def result(timeout: float | None = None) -> Any:
            assert started.wait(10)
            raise KeyboardInterrupt

        future.result = result  # type: ignore[method-assign]
        return future

    with sync.YativoClient(access_token="t", transport=y.MockTransport(hang),
                           rate_limits=[]) as c:
        monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", interrupting)
        with pytest.raises(KeyboardInterrupt):
            c.api_keys.list()
        monkeypatch.undo()
        assert cancelled.wait(10)


def test_a_facade_never_closed_is_closed_when_collected(
    keyed: tuple[FakeYativo, Any],
) -> None:
    fake, key = keyed
    c = facade(fake, key)
    c.api_keys.list()
    thread, inner = c._runner.thread, c.async_client
    del c
    gc.collect()
    thread.join(10)  # a bound, not a guess: join returns when the loop has stopped
    assert not thread.is_alive() and inner.closed


def test_from_env(monkeypatch: pytest.MonkeyPatch, keyed: tuple[FakeYativo, Any]) -> None:
    fake, key = keyed
    monkeypatch.setenv("YATIVO_API_KEY", key.api_key)
    monkeypatch.setenv("YATIVO_API_SECRET", key.api_secret)
    with sync.YativoClient.from_env(transport=fake.transport(), rate_limits=[]) as c:
        assert len(c.api_keys.list()) == 1


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    yield
    for thread in sync_threads():
        thread.join(10)
    assert sync_threads() == []


def test_raw_responses_and_views(keyed: tuple[FakeYativo, Any]) -> None:
    fake, key = keyed
    seen: list[y.Request] = []
    inner = fake.transport()

    async def spy(request: y.Request) -> y.Response:
        seen.append(request)
        return await inner.send(request)

    with sync.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                           transport=y.MockTransport(spy), rate_limits=[]) as c:
        raw = c.api_keys.with_raw_response.list()
        assert isinstance(raw, y.APIResponse) and raw.status == 200
        assert [k.id for k in raw.parse()] == [key.id]
        assert c.auth.with_raw_response.exchange_token().status == 200
        view = c.with_options(extra_headers={"X-Trace": "abc"}, priority="batch")
        assert [k.id for k in view.api_keys.list()] == [key.id]
        assert seen[-1].headers["X-Trace"] == "abc"
        with pytest.raises(ValueError):
            c.with_options(timeout=-1)
        view.close()
        assert view.closed and not c.closed
        with pytest.raises(y.ClientClosedError):
            view.api_keys.list()
        assert len(c.api_keys.list()) == 1  # the client carries on
        thread = c._runner.thread
    assert not thread.is_alive()


def test_limits_and_credentials_are_controlled_from_the_callers_thread(
    keyed: tuple[FakeYativo, Any],
) -> None:
    fake, key = keyed
    with facade(fake, key, rate_limits=[y.RateLimit(10, 60.0)]) as c:
        c.adopt_rate_limits([y.RateLimit(5, 60.0)])
        c.api_keys.list()  # the exchange and the list
        (window,) = c.rate_limit_status()
        assert (window.limit, window.used + window.in_flight, window.remaining) == (5, 2, 3)
        c.rotate_credentials(api_secret="yvs_live_wrong")
        with pytest.raises(y.AuthenticationError):
            c.auth.exchange_token()  # an explicit exchange uses the new (wrong) pair
