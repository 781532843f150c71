"""Every program in examples/ run against FakeYativo, as a user would run it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import io
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from rich.console import Console

import yativo_async as y
from examples import aiohttp_app, bot, fastapi_app, rotate_keys
from yativo_async.testing import FakeKey, FakeYativo

# -- the web apps -------------------------------------------------------------------------


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeYativo]:
    """The fake on a loopback port, with a small budget so a test can run it out."""
    async with FakeYativo(rate_limits=[y.RateLimit(100, 60.0)]) as fake:
        fake.add_key("alpha", ["read"])
        fake.add_key("beta", ["read", "write"])
        yield fake


def factory_for(fake: FakeYativo, made: list[y.YativoClient]) -> Callable[[], y.YativoClient]:
    """The app's client factory, pointed at the fake: 3 calls per minute, no waiting for budget
    (`max_wait=0`), so the fourth request in a minute is the app's own 429."""

    def make() -> y.YativoClient:
        client = y.YativoClient(access_token=fake.access_token, base_url=fake.base_url,
                                rate_limits=[y.RateLimit(3, 60.0)], max_wait=0.0)
        made.append(client)
        return client

    return make


async def test_aiohttp_app_shares_one_client_and_maps_budget_to_429(
    fake_server: FakeYativo,
) -> None:
    made: list[y.YativoClient] = []
    app = aiohttp_app.create_app(factory_for(fake_server, made))
    async with TestClient(TestServer(app)) as http:
        assert len(made) == 1 and not made[0].closed  # created at startup
        listed = await http.get("/keys")
        assert listed.status == 200
        assert sorted(k["name"] for k in await listed.json()) == ["alpha", "beta"]
        key_id = (await listed.json())[0]["id"]
        got = await http.get(f"/keys/{key_id}")
        assert got.status == 200 and (await got.json())["id"] == key_id
        assert (await http.get("/keys/key_missing")).status == 404  # the third call
        limited = await http.get("/keys")
        assert limited.status == 429
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert (await limited.json())["retry_after"] == retry_after
        assert len(made) == 1  # every request used the one client
    assert made[0].closed  # closed at shutdown
    assert fake_server.count("status:429") == 0  # the client refused; the server never had to
    assert fake_server.count("requests") == 3


async def test_fastapi_app_shares_one_client_and_maps_budget_to_429(
    fake_server: FakeYativo,
) -> None:
    made: list[y.YativoClient] = []
    app = fastapi_app.create_app(factory_for(fake_server, made))
    async with app.router.lifespan_context(app):  # what uvicorn runs at startup/shutdown
        assert len(made) == 1 and not made[0].closed
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            listed = await http.get("/keys")
            assert listed.status_code == 200
            assert sorted(k["name"] for k in listed.json()) == ["alpha", "beta"]
            key_id = listed.json()[0]["id"]
            got = await http.get(f"/keys/{key_id}")
            assert got.status_code == 200 and got.json()["id"] == key_id
            assert (await http.get("/keys/key_missing")).status_code == 404
            limited = await http.get("/keys")
            assert limited.status_code == 429
            retry_after = int(limited.headers["Retry-After"])
            assert 1 <= retry_after <= 60
            assert limited.json()["retry_after"] == retry_after
        assert len(made) == 1
    assert made[0].closed
    assert fake_server.count("status:429") == 0
    assert fake_server.count("requests") == 3


# A key id the SDK refuses before sending anything (ValueError): the caller's mistake.
BAD_KEY_IDS = ["%20", "a%3Fb", "a%23b", "..%2f"]


async def test_aiohttp_app_answers_a_key_id_the_sdk_refuses_with_400(
    fake_server: FakeYativo, caplog: pytest.LogCaptureFixture,
) -> None:
    made: list[y.YativoClient] = []
    app = aiohttp_app.create_app(factory_for(fake_server, made))
    async with TestClient(TestServer(app)) as http:
        for raw in BAD_KEY_IDS:
            answer = await http.get(f"/keys/{raw}")
            assert answer.status == 400, raw
            assert "is not a valid key id" in (await answer.json())["error"]
        assert (await http.get("/keys")).status == 200  # the app carries on
    assert fake_server.count("requests") == 1  # the bad ids never reached the server
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback


async def test_fastapi_app_answers_a_key_id_the_sdk_refuses_with_400(
    fake_server: FakeYativo,
) -> None:
    made: list[y.YativoClient] = []
    app = fastapi_app.create_app(factory_for(fake_server, made))
    async with app.router.lifespan_context(app):
        # raise_app_exceptions (the default): an unhandled error would fail the test here
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            for raw in BAD_KEY_IDS[:3]:  # "..%2f" is Starlette's redirect, never the route
                answer = await http.get(f"/keys/{raw}")
                assert answer.status_code == 400, raw
                assert "is not a valid key id" in answer.json()["error"]
            assert (await http.get("/keys")).status_code == 200
    assert fake_server.count("requests") == 1


# What the SDK raises when the upstream fails, and what both apps answer: a short JSON error
# naming the error's type, never a traceback nor the upstream's details.
UPSTREAM_FAILURES: dict[str, tuple[dict[str, Any] | None, int, str]] = {
    "server error": ({"error_rate": 1.0, "error_statuses": (500,)}, 502, "upstream: ServerError"),
    "dropped": ({"drop_rate": 1.0}, 502, "upstream: APIConnectionError"),
    "does not decode": ({"malformed_rate": 1.0}, 502, "upstream: ResponseDecodeError"),
    "no token": (None, 503, "unavailable: TokenUnavailableError"),
}

Get = Callable[[str], Awaitable[tuple[int, Mapping[str, str], Any]]]


@contextlib.asynccontextmanager
async def serving(which: str, factory: Callable[[], y.YativoClient]) -> AsyncIterator[Get]:
    """``which`` app, started (and stopped) as its server would; ``get(path)`` gives the
    status, headers and JSON body of its answer."""
    if which == "aiohttp":
        async with TestClient(TestServer(aiohttp_app.create_app(factory))) as aio:

            async def get_aio(path: str) -> tuple[int, Mapping[str, str], Any]:
                answer = await aio.get(path)
                return answer.status, answer.headers, await answer.json()

            yield get_aio
    else:
        app = fastapi_app.create_app(factory)
        async with app.router.lifespan_context(app):
            # raise_app_exceptions (the default): an unhandled error fails the test here
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:

                async def get_http(path: str) -> tuple[int, Mapping[str, str], Any]:
                    answer = await http.get(path)
                    return answer.status_code, answer.headers, answer.json()

                yield get_http


@pytest.mark.parametrize("failure", list(UPSTREAM_FAILURES))
@pytest.mark.parametrize("which", ["aiohttp", "fastapi"])
async def test_web_apps_answer_upstream_failures_with_a_short_json_error(
    fake_server: FakeYativo, caplog: pytest.LogCaptureFixture, which: str, failure: str,
) -> None:
    faults, status, error = UPSTREAM_FAILURES[failure]
    secret = "yvs_live_" + "S" * 32

    def token_service_down(request: y.Request) -> y.Response:
        raise RuntimeError("token service down")  # the exchange fails, not as an API error

    def factory() -> y.YativoClient:
        if faults is None:  # no bearer token can be had: nothing is ever sent
            return y.YativoClient(api_key="yvk_live_app", api_secret=secret,
                                  transport=y.MockTransport(token_service_down),
                                  retry=y.RetryPolicy.none())
        return y.YativoClient(access_token=fake_server.access_token,
                              base_url=fake_server.base_url, retry=y.RetryPolicy.none())

    if faults is not None:
        fake_server.set_faults("list", **faults)
    async with serving(which, factory) as get:
        answers = [await get("/keys"), await get("/keys")]
    for got, headers, body in answers:
        assert (got, body["error"]) == (status, error)
        assert set(body) <= {"error", "retry_after"}
        assert secret not in json.dumps(body) and fake_server.access_token not in json.dumps(body)
        if "retry_after" in body:
            assert int(headers["Retry-After"]) == body["retry_after"] >= 1
    if faults is None:  # the second call fails fast during the provider's backoff: says how long
        assert "Retry-After" in answers[1][1]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback


# -- the batch job ------------------------------------------------------------------------


def quiet() -> Console:
    return Console(file=io.StringIO(), width=100)


def fake_with_keys(n: int) -> FakeYativo:
    fake = FakeYativo()  # the documented limits: 60/min, 3000/h, 50000/day
    for i in range(n):
        fake.add_key(f"svc-{i:03d}", ["read"])
    return fake


def client_for(fake: FakeYativo) -> y.YativoClient:
    return y.YativoClient(access_token=fake.access_token, two_factor=fake.totp_secret,
                          transport=fake.transport())


@pytest.mark.looptime
async def test_batch_rotation_survives_ctrl_c_and_resumes(tmp_path: Path) -> None:
    fake = fake_with_keys(300)
    state, secrets = tmp_path / "state.jsonl", tmp_path / "secrets.jsonl"

    async with client_for(fake) as client:
        job = asyncio.current_task()

        def ctrl_c_after_100(summary: rotate_keys.Summary) -> None:
            if summary.done == 100:
                job.cancel()  # what the SIGINT handler in main() does  # type: ignore[union-attr]

        with pytest.raises(asyncio.CancelledError):
            await rotate_keys.run_job(client, action="rotate", state_path=state,
                                      secrets_path=secrets, concurrency=10, console=quiet(),
                                      on_key_done=ctrl_c_after_100)
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        first = len(state.read_text().splitlines())
        # the keys in flight at Ctrl-C were finished and recorded, none started after
        assert 100 <= first <= 110
        assert fake.count("route:rotate") == first

        console = quiet()
        summary = await rotate_keys.run_job(client, action="rotate", state_path=state,
                                            secrets_path=secrets, concurrency=10,
                                            console=console)
    assert not summary.interrupted and not summary.failed
    assert (summary.total, summary.already_done, summary.done) == (300, first, 300 - first)
    assert summary.max_in_flight == 10
    assert fake.count("route:rotate") == 300  # each key rotated exactly once over both runs
    assert fake.count("status:429") == 0      # 300 calls at 60/min: the limiter paced them
    saved = [json.loads(line) for line in secrets.read_text().splitlines()]
    assert {s["id"]: s["api_secret"] for s in saved} == {
        k.id: k.api_secret for k in fake.keys.values()}  # every new secret kept, all current
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    assert "done in this run" in console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.looptime
async def test_batch_audit_reports_findings_and_retries_failures(tmp_path: Path) -> None:
    fake = fake_with_keys(120)
    state = tmp_path / "state.jsonl"
    fake.set_faults("get", error_rate=0.2, error_statuses=(403,))  # not retried
    async with client_for(fake) as client:
        first = await rotate_keys.run_job(client, action="audit", state_path=state,
                                          concurrency=4, console=quiet())
        fake.clear_faults()
        second = await rotate_keys.run_job(client, action="audit", state_path=state,
                                           concurrency=4, console=quiet())
    assert first.failed and first.done + len(first.failed) == 120
    assert second.already_done == first.done and second.done == len(first.failed)
    assert not second.failed
    # keys added by the fake were never used: every one is a finding, reported once
    assert len(first.findings) + len(second.findings) == 120
    assert {issue for _, _, issue in first.findings} == {"never used"}


async def test_batch_rotate_needs_somewhere_to_put_secrets(tmp_path: Path) -> None:
    async with client_for(FakeYativo()) as client:
        with pytest.raises(ValueError, match="secrets_path"):
            await rotate_keys.run_job(client, action="rotate", state_path=tmp_path / "s")


@pytest.fixture
async def env_for_fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeYativo]:
    """The fake on a loopback port with three keys, named by the environment that
    ``from_env`` (what ``main`` uses) reads."""
    async with fake_with_keys(3) as fake:
        for var in ("YATIVO_API_KEY", "YATIVO_API_SECRET", "YATIVO_REDIS_URL"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("YATIVO_BASE_URL", fake.base_url)
        monkeypatch.setenv("YATIVO_ACCESS_TOKEN", fake.access_token)
        monkeypatch.setenv("YATIVO_TOTP_SECRET", fake.totp_secret)
        yield fake


@pytest.mark.parametrize("args", [
    ["rotate"],                                        # no --secrets-out
    ["audit", "--concurrency", "0"],
    ["rotate", "--secrets-out", "{tmp}/s.jsonl", "--concurrency", "-1"],
    ["rotate", "--secrets-out", "{tmp}/no-such-dir/s.jsonl"],  # new secrets would be lost
    ["rotate", "--secrets-out", "{tmp}"],              # a directory
    ["audit", "--state", "{tmp}/no-such-dir/state.jsonl"],
])
async def test_batch_job_bad_arguments_are_usage_errors(
    env_for_fake: FakeYativo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--state" not in argv:
        argv += ["--state", str(tmp_path / "state.jsonl")]  # not the default, in the cwd
    with pytest.raises(SystemExit) as exited:
        await rotate_keys.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ") and "Traceback" not in err
    assert err.splitlines()[-1].split(": error: ")[1]  # argparse's one-line message
    assert env_for_fake.count("requests") == 0  # nothing sent, no key rotated


async def test_batch_job_main_with_good_arguments(
    env_for_fake: FakeYativo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    secrets, state = tmp_path / "s.jsonl", tmp_path / "state.jsonl"
    code = await rotate_keys.main(["rotate", "--secrets-out", str(secrets),
                                   "--state", str(state), "--concurrency", "2"])
    assert code == 0
    saved = {s["id"]: s["api_secret"] for s in map(json.loads, secrets.read_text().splitlines())}
    assert saved == {k.id: k.api_secret for k in env_for_fake.keys.values()}
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    assert len(state.read_text().splitlines()) == 3


def failing_on_call(n: int, write: Callable[..., None]) -> Callable[..., None]:
    """``write``, except that its ``n``-th call fails as on a full disk."""
    calls = 0

    def maybe_write(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(*args)

    return maybe_write


async def test_batch_job_stops_when_the_state_file_cannot_be_written(
    env_for_fake: FakeYativo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    fake = env_for_fake
    secrets, state = tmp_path / "s.jsonl", tmp_path / "state.jsonl"
    argv = ["rotate", "--secrets-out", str(secrets), "--state", str(state), "--concurrency", "1"]
    with monkeypatch.context() as patch:
        patch.setattr(rotate_keys.StateFile, "record",
                      failing_on_call(2, rotate_keys.StateFile.record))
        code = await rotate_keys.main(argv)
        gc.collect()  # a task whose exception nobody retrieved would be logged now
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and not caplog.records
    last = err.splitlines()[-1]
    assert f": error: --state {state}: No space left on device: stopped" in last
    assert "run the same command again" in last
    # The second key's state line failed: no third key was started, and both new secrets
    # received are in --secrets-out.
    assert fake.count("route:rotate") == 2
    saved = {s["id"]: s["api_secret"] for s in map(json.loads, secrets.read_text().splitlines())}
    assert len(saved) == 2 and all(fake.keys[i].api_secret == v for i, v in saved.items())
    (recorded,) = map(json.loads, state.read_text().splitlines())
    (unrecorded,) = set(saved) - {recorded["id"]}
    assert f"{unrecorded}: rotated, its new secret saved to {secrets}" in " ".join(err.split())

    # Run again once it can be written: the unrecorded key is rotated again, the third too.
    assert await rotate_keys.main(argv) == 0
    saved = {s["id"]: s["api_secret"] for s in map(json.loads, secrets.read_text().splitlines())}
    assert saved == {k.id: k.api_secret for k in fake.keys.values()}
    assert fake.count("route:rotate") == 4


async def test_batch_job_stops_when_a_new_secret_cannot_be_written(
    env_for_fake: FakeYativo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = env_for_fake
    before = {k.id: k.api_secret for k in fake.keys.values()}
    secrets, state = tmp_path / "s.jsonl", tmp_path / "state.jsonl"
    argv = ["rotate", "--secrets-out", str(secrets), "--state", str(state), "--concurrency", "1"]
    with monkeypatch.context() as patch:
        patch.setattr(rotate_keys, "_save_secret", failing_on_call(2, rotate_keys._save_secret))
        code = await rotate_keys.main(argv)
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    last = err.splitlines()[-1]
    assert f": error: --secrets-out {secrets}: No space left on device: stopped" in last
    assert "1 new secret(s) could not be saved" in last
    # Not one key more was rotated after that: a full disk does not kill every secret.
    rotated = {i for i, secret in before.items() if fake.keys[i].api_secret != secret}
    assert len(rotated) == 2 and fake.count("route:rotate") == 2
    (lost,) = rotated - {json.loads(secrets.read_text())["id"]}
    assert f"{lost}: rotated, but its new secret could not be written" in " ".join(err.split())
    assert fake.keys[lost].api_secret not in out + err  # not on a terminal: never in a log
    assert lost not in state.read_text()  # not done: the next run rotates it again

    assert await rotate_keys.main(argv) == 0
    saved = {s["id"]: s["api_secret"] for s in map(json.loads, secrets.read_text().splitlines())}
    assert saved == {k.id: k.api_secret for k in fake.keys.values()}


async def test_batch_job_shows_a_secret_it_cannot_save_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = fake_with_keys(1)
    (key,) = fake.keys.values()
    console = Console(file=io.StringIO(), width=200, force_terminal=True)
    monkeypatch.setattr(rotate_keys, "_save_secret", failing_on_call(1, rotate_keys._save_secret))
    async with client_for(fake) as client:
        with pytest.raises(rotate_keys.JobStopped, match="1 new secret"):
            await rotate_keys.run_job(client, action="rotate", state_path=tmp_path / "state",
                                      secrets_path=tmp_path / "s", console=console)
    assert key.api_secret in console.file.getvalue()  # type: ignore[attr-defined]


async def test_batch_rotation_keeps_the_secret_of_an_answer_that_does_not_decode(
    tmp_path: Path,
) -> None:
    fake = fake_with_keys(3)
    inner = fake.transport()

    async def malformed_rotations(request: y.Request) -> y.Response:
        answer = await inner.send(request)
        if "/rotate" in request.url and answer.status == 200:
            data = json.loads(answer.body)
            data.get("data", data)["rotated_at"] = "yesterday"
            answer = y.Response(status=200, headers=answer.headers,
                                body=json.dumps(data).encode())
        return answer

    secrets, state = tmp_path / "s.jsonl", tmp_path / "state.jsonl"
    async with y.YativoClient(access_token=fake.access_token, two_factor=fake.totp_secret,
                              transport=y.MockTransport(malformed_rotations)) as client:
        summary = await rotate_keys.run_job(client, action="rotate", state_path=state,
                                            secrets_path=secrets, console=quiet())
    assert len(summary.failed) == 3 and summary.done == 0  # not done: rotated again next run
    assert all("ResponseDecodeError" in e and str(secrets) in e for e in summary.failed.values())
    saved = {s["id"]: s["api_secret"] for s in map(json.loads, secrets.read_text().splitlines())}
    assert saved == {k.id: k.api_secret for k in fake.keys.values()}  # and kept meanwhile


async def test_batch_job_appends_after_a_line_cut_short(
    env_for_fake: FakeYativo, tmp_path: Path,
) -> None:
    """A line a full disk cut short is not glued to the next one (its secret lost)."""
    secrets, state = tmp_path / "s.jsonl", tmp_path / "state.jsonl"
    cut = '{"id": "key_old", "api_key": "yvk_live_old", "api_sec'
    secrets.write_text(cut)
    state.write_text('{"action": "rotate", "id": "key_o')
    assert await rotate_keys.main(["rotate", "--secrets-out", str(secrets),
                                   "--state", str(state)]) == 0
    first, *lines = secrets.read_text().splitlines()
    assert first == cut
    saved = {s["id"]: s["api_secret"] for s in map(json.loads, lines)}
    assert saved == {k.id: k.api_secret for k in env_for_fake.keys.values()}
    assert rotate_keys.StateFile(state).done_ids("rotate") == set(saved)


async def test_batch_job_without_credentials_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for var in [v for v in os.environ if v.startswith("YATIVO_")]:
        monkeypatch.delenv(var)
    with pytest.raises(SystemExit) as exited:
        await rotate_keys.main(["audit", "--state", str(tmp_path / "state.jsonl")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ") and "Traceback" not in err
    assert "has no credentials" in err.splitlines()[-1].split(": error: ")[1]


# -- the bot ------------------------------------------------------------------------------


@pytest.mark.looptime
async def test_bot_lives_through_expiry_budget_exhaustion_and_rotation(tmp_path: Path) -> None:
    hours = 5.5
    limits = [y.RateLimit(60, 60.0), y.RateLimit(100, 3600.0)]  # a small hourly budget
    fake = FakeYativo(rate_limits=limits, token_ttl=300)  # tokens die every 5 minutes
    fake.set_faults("list", error_rate=0.02, error_statuses=(503,))  # and the network blips
    key = fake.add_key("bot", ["read"])
    first_secret = key.api_secret
    credentials = tmp_path / "bot.json"
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.call_later(hours * 3600, stop.set)
    async with y.YativoClient(api_key=key.api_key, api_secret=first_secret,
                              two_factor=fake.totp_secret, transport=fake.transport(),
                              rate_limits=limits, max_wait=30.0) as client:
        stats = await bot.run_bot(client, key_id=key.id, stop=stop, interval=20.0,
                                  rotate_every=2 * 3600.0,
                                  on_rotated=bot.save_credentials(credentials))
    assert 0.99 * hours * 3600 <= loop.time() <= hours * 3600 + 60  # ran the whole time

    # token expiry: dozens of exchanges, never a 401 (refreshed ahead of expiry)
    assert fake.token_exchanges >= 30
    assert fake.count("status:401") == 0
    # budget exhaustion: 180 ticks an hour wanted, 100 calls an hour allowed; the bot slept
    # on the client's RateLimitError and the server never had to say 429
    assert stats.rate_limited > 0
    assert fake.count("status:429") == 0
    assert stats.ok > 0.8 * 100 * hours - fake.token_exchanges - 10
    # credential rotation: twice, adopted in place, stored, and the bot kept working after
    assert stats.rotations == 2
    saved = json.loads(credentials.read_text())
    assert saved["api_secret"] == fake.keys[key.id].api_secret != first_secret
    last_rotation = max(e.time for e in fake.journal if e.route == "rotate")
    assert any(e.route == "list" and e.status == 200 and e.time > last_rotation
               for e in fake.journal)


ROOT = Path(__file__).resolve().parent.parent
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@contextlib.asynccontextmanager
async def bot_process(fake: FakeYativo, key: FakeKey, secret: str, credentials: Path,
                      ) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m examples.bot`` as the docstring runs it, against ``fake`` on loopback, its
    log (stderr) piped; rotating at every tick, one tick every 50 ms."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YATIVO_")}
    env.update(YATIVO_BASE_URL=fake.base_url, YATIVO_TOTP_SECRET=fake.totp_secret,
               YATIVO_API_KEY=key.api_key, YATIVO_API_SECRET=secret, PYTHONPATH=str(ROOT),
               PYTHONUNBUFFERED="1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.bot", "--key-id", key.id,
        "--credentials-out", str(credentials), "--interval", "0.05",
        "--rotate-every-hours", "1e-9",
        cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()


async def log_until(proc: asyncio.subprocess.Process, text: str) -> list[str]:
    """The bot's log lines up to the first one containing ``text``."""
    assert proc.stderr is not None
    lines: list[str] = []
    while not lines or text not in lines[-1]:
        line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        assert line, f"the bot exited before logging {text!r}:\n{''.join(lines)}"
        lines.append(line)
    return lines


async def stopped(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """SIGTERM (what the bot's docstring stops it with), then its exit status and the rest
    of its log."""
    proc.send_signal(signal.SIGTERM)
    _, rest = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, rest.decode()


@posix_only
async def test_bot_restarts_on_the_key_pair_its_last_rotation_saved(tmp_path: Path) -> None:
    credentials = tmp_path / "creds.json"
    async with FakeYativo() as fake:
        key = fake.add_key("bot", ["read"])
        old_secret = key.api_secret
        async with bot_process(fake, key, old_secret, credentials) as first:
            log = await log_until(first, "rotated key")
            code, rest = await stopped(first)
        assert code == 0, "".join([*log, rest])
        saved = json.loads(credentials.read_text())
        assert saved["api_secret"] == fake.keys[key.id].api_secret != old_secret

        # Restarted with the same command and environment, whose secret is dead by now.
        async with bot_process(fake, key, old_secret, credentials) as second:
            log = await log_until(second, "rotated key")  # it worked: list, then rotate
            code, rest = await stopped(second)
        assert code == 0, "".join([*log, rest])
        assert f"using the key pair in {credentials}" in log[0]
        assert json.loads(credentials.read_text())["api_secret"] == (
            fake.keys[key.id].api_secret)
        assert fake.count("status:401") == 0  # not even one try with the dead secret
        output = "".join(log) + rest
        assert old_secret not in output and saved["api_secret"] not in output
        assert fake.keys[key.id].api_secret not in output


@posix_only
async def test_bot_refused_key_is_a_one_line_error(tmp_path: Path) -> None:
    credentials = tmp_path / "creds.json"
    async with FakeYativo() as fake:
        key = fake.add_key("bot", ["read"])
        async with bot_process(fake, key, "not-the-secret", credentials) as bot_run:
            _, err = await asyncio.wait_for(bot_run.communicate(), 60)
        assert bot_run.returncode == 1
        (line,) = err.decode().splitlines()  # no traceback
        assert line.startswith("ERROR:examples.bot:") and "environment was refused" in line
        assert "401" in line
        assert not credentials.exists()

        # A saved pair wins over the environment's; when it is refused, the line says so.
        credentials.write_text(json.dumps({"api_key": key.api_key, "api_secret": "stale"}))
        async with bot_process(fake, key, key.api_secret, credentials) as bot_run:
            _, err = await asyncio.wait_for(bot_run.communicate(), 60)
        assert bot_run.returncode == 1
        lines = err.decode().splitlines()
        assert len(lines) == 2 and "using the key pair in" in lines[0]
        assert f"from {credentials} was refused" in lines[1] and "delete" in lines[1]
        assert key.api_secret not in err.decode()
