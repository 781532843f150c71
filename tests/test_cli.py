"""The yativo command through click's runner, against FakeYativo on a real loopback port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from yativo_async.cli._app import cli
from yativo_async.testing import FakeYativo


@pytest.fixture
def served_fake() -> Iterator[FakeYativo]:
    """A FakeYativo serving from its own thread and loop, as a remote server would."""
    fake = FakeYativo()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Event | None = None

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with fake:
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield fake
    assert stop is not None
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


def invoke(fake: FakeYativo, *args: str, env: dict[str, str] | None = None,
           input: str | None = None) -> tuple[int, str, str]:
    base = {"YATIVO_BASE_URL": fake.base_url, "YATIVO_ACCESS_TOKEN": fake.access_token,
            "YATIVO_TOTP_SECRET": fake.totp_secret, "YATIVO_API_KEY": "",
            "YATIVO_API_SECRET": ""}
    base.update(env or {})
    result = CliRunner().invoke(cli, list(args), env=base, input=input)
    return result.exit_code, result.stdout, result.stderr


def test_keys_list_get_json_and_table(served_fake: FakeYativo) -> None:
    key = served_fake.add_key("ops", ["read"])
    code, out, _ = invoke(served_fake, "keys", "list", "--json")
    assert code == 0
    assert [k["id"] for k in json.loads(out)] == [key.id]
    code, out, _ = invoke(served_fake, "--json", "keys", "get", key.id)
    assert json.loads(out)["name"] == "ops"
    code, out, _ = invoke(served_fake, "keys", "list")
    assert code == 0
    assert key.id in out
    assert "API keys" in out


def test_create_shows_secret_once_only_with_json_or_terminal(served_fake: FakeYativo) -> None:
    code, out, _ = invoke(served_fake, "keys", "create", "--name", "ci", "--permission", "read",
                          "--json")
    assert code == 0
    created = json.loads(out)
    assert created["api_secret"] == served_fake.keys[created["id"]].api_secret
    code, out, err = invoke(served_fake, "keys", "create", "--name", "piped")
    assert code == 0
    (new_id,) = [k for k in served_fake.keys if served_fake.keys[k].name == "piped"]
    secret = served_fake.keys[new_id].api_secret
    assert secret not in out  # not on a pipe without --json
    assert secret not in err
    assert "--json" in err
    code, out, _ = invoke(served_fake, "keys", "create", "--name", "tty",
                          env={"YATIVO_SHOW_SECRET": "1"})
    (tty_id,) = [k for k in served_fake.keys if served_fake.keys[k].name == "tty"]
    assert out.count(served_fake.keys[tty_id].api_secret) == 1
    assert "shown once" in out


def test_generate_rotate_permissions_revoke(served_fake: FakeYativo) -> None:
    code, out, _ = invoke(served_fake, "keys", "generate", "--name", "g", "--scope",
                          "transactions:read", "--json")
    gen = json.loads(out)
    assert gen["permissions"] == ["transactions:read"]
    key_id = gen["id"]
    code, out, _ = invoke(served_fake, "keys", "rotate", key_id, "--json")
    assert json.loads(out)["api_secret"] == served_fake.keys[key_id].api_secret
    code, out, _ = invoke(served_fake, "keys", "permissions", key_id, "transactions:read",
                          "accounts:read", "--json")
    assert code == 0
    assert served_fake.keys[key_id].permissions == ["transactions:read", "accounts:read"]
    code, _, _ = invoke(served_fake, "keys", "revoke", key_id, input="n\n")
    assert code == 1  # declined: click aborts
    assert served_fake.keys[key_id].status == "active"
    code, out, _ = invoke(served_fake, "keys", "revoke", key_id, input="y\n")
    assert code == 0
    assert served_fake.keys[key_id].status == "revoked"
    key2 = served_fake.add_key()
    code, _, _ = invoke(served_fake, "keys", "revoke", key2.id, "--yes")
    assert code == 0
    assert served_fake.keys[key2.id].status == "revoked"


def test_token_hidden_unless_revealed(served_fake: FakeYativo) -> None:
    key = served_fake.add_key()
    env = {"YATIVO_API_KEY": key.api_key, "YATIVO_API_SECRET": key.api_secret,
           "YATIVO_ACCESS_TOKEN": ""}
    code, out, _ = invoke(served_fake, "token", "--json", env=env)
    assert code == 0
    masked = json.loads(out)
    assert masked["expires_in"] == 3600
    assert not masked["access_token"].startswith("eyJ")
    code, out, _ = invoke(served_fake, "token", "--json", "--reveal", env=env)
    assert json.loads(out)["access_token"].startswith("eyJ")


@pytest.mark.parametrize(
    ("args", "env", "exit_code"),
    [
        (("keys", "get", "key_missing"), {}, 3),  # API error
        (("keys", "list"), {"YATIVO_ACCESS_TOKEN": "bogus"}, 4),  # auth
        (("keys", "revoke", "k", "--yes", "--2fa", "000000"), {}, 4),  # wrong 2FA
        (("keys", "list"), {"YATIVO_BASE_URL": "http://127.0.0.1:9/api"}, 6),  # connection
        (("keys", "create"), {}, 2),  # usage: --name missing
        (("keys", "create", "--name", "x", "--expires-in-days", "0"), {}, 2),  # bad input
    ],
)
def test_exit_codes_and_one_line_errors(served_fake: FakeYativo, args: tuple[str, ...],
                                        env: dict[str, str], exit_code: int) -> None:
    code, out, err = invoke(served_fake, *args, env=env)
    assert code == exit_code, (out, err)
    assert "Traceback" not in err
    if args != ("keys", "create"):  # click prints its own usage block
        assert len(err.strip().splitlines()) <= 2


def test_rate_limited_exit_code(served_fake: FakeYativo) -> None:
    served_fake.set_faults(retry_after_rate=0.0)
    served_fake.rate_limits = ()
    served_fake.set_faults("list", error_rate=1.0, error_statuses=(429,))
    code, _, err = invoke(served_fake, "keys", "list")
    assert code == 5, err


def test_debug_shows_traceback(served_fake: FakeYativo) -> None:
    code, _, err = invoke(served_fake, "keys", "get", "key_missing", "--debug")
    assert code == 3
    assert "Traceback" in err


def test_demo_end_to_end() -> None:
    result = CliRunner().invoke(cli, ["demo", "--calls", "50", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["calls"] == 50
    assert stats["succeeded"] == 50
    assert stats["token_exchanges"] == 1
    assert stats["server_429s"] == 0
    assert stats["retries"] >= 0


def test_fake_server_command_serves_and_stops() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from yativo_async.cli import main; main()", "fake-server",
         "--port", "0", "--json", "--stop-after", "20"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["base_url"].startswith("http://127.0.0.1:")
        code, out, _ = invoke(
            FakeYativo(),  # only used for env defaults below
            "keys", "list", "--json",
            env={"YATIVO_BASE_URL": info["base_url"], "YATIVO_ACCESS_TOKEN": info["access_token"]},
        )
        assert code == 0
        assert json.loads(out) == []
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode is not None


def test_2fa_prompt_when_a_terminal_is_attached(served_fake: FakeYativo,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import yativo_async.cli._app as app

    monkeypatch.setattr(app, "_interactive", lambda: True)
    key = served_fake.add_key()
    code, out, err = invoke(served_fake, "keys", "revoke", key.id, "--yes",
                            env={"YATIVO_TOTP_SECRET": ""}, input=served_fake.totp_now() + "\n")
    assert code == 0, err
    assert served_fake.keys[key.id].status == "revoked"
    assert served_fake.totp_now() not in out  # the code is typed hidden, never echoed


def test_missing_cli_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from yativo_async import cli as cli_module

    monkeypatch.setitem(sys.modules, "click", None)  # import click -> ImportError
    with pytest.raises(SystemExit) as info:
        cli_module.main()
    assert info.value.code == 2
    assert "pip install 'yativo-async[cli]'" in capsys.readouterr().err
