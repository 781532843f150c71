"""The yativo command through click's runner, against FakeYativo on a real loopback port.

The runner's stdout and stderr are not terminals, as in a pipe; tests that need a terminal
patch ``_stdout_tty``/``_stderr_tty``/``_interactive``. The real command as a subprocess
(pipes, a pty, signals) is in test_cli_process.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import click
import pytest
from click.testing import CliRunner

import yativo_async as y
from yativo_async.cli import _app as app
from yativo_async.cli._app import cli
from yativo_async.cli._secret_out import SecretFile
from yativo_async.testing import FakeYativo


def runner() -> CliRunner:
    """stdout and stderr apart: the default from click 8.2, ``mix_stderr=False`` before."""
    if "mix_stderr" in inspect.signature(CliRunner).parameters:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    return CliRunner()


@contextlib.contextmanager
def serve_in_thread(fake: FakeYativo) -> Iterator[FakeYativo]:
    """Serve ``fake`` from its own thread and loop, as a remote server would."""
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
    try:
        yield fake
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


@pytest.fixture
def served_fake() -> Iterator[FakeYativo]:
    with serve_in_thread(FakeYativo()) as fake:
        yield fake


def fake_env(fake: FakeYativo) -> dict[str, str]:
    return {"YATIVO_BASE_URL": fake.base_url, "YATIVO_ACCESS_TOKEN": fake.access_token,
            "YATIVO_TOTP_SECRET": fake.totp_secret, "YATIVO_API_KEY": "",
            "YATIVO_API_SECRET": "", "YATIVO_SHOW_SECRET": ""}


def invoke(fake: FakeYativo, *args: str, env: dict[str, str] | None = None,
           input: str | None = None) -> tuple[int, str, str]:
    result = runner().invoke(cli, list(args), env={**fake_env(fake), **(env or {})},
                                input=input)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's client gives up at the first failure, so a test of how a failure
    is reported does not wait out the backoff (the policy is tested in test_retry.py)."""

    class Client(y.YativoClient):
        @classmethod
        def from_env(cls, **overrides: Any) -> y.YativoClient:
            return super().from_env(retry=y.RetryPolicy.none(), **overrides)

    monkeypatch.setattr(app, "YativoClient", Client)


def answer_at(fake: FakeYativo, monkeypatch: pytest.MonkeyPatch, path_end: str, status: int,
              headers: dict[str, str], body: bytes) -> None:
    """``fake`` answers every request to a path ending ``path_end`` with this, and the
    rest as it would."""
    handle = fake.handle

    async def answer(method: str, path: str, given: Any, sent: bytes) -> Any:
        if path.endswith(path_end):
            return status, headers, body, 0.0
        return await handle(method, path, given, sent)

    monkeypatch.setattr(fake, "handle", answer)


def routes(fake: FakeYativo) -> list[str | None]:
    return [entry.route for entry in fake.journal]


def the_key(fake: FakeYativo, name: str) -> str:
    (key_id,) = [k for k, v in fake.keys.items() if v.name == name]
    return key_id


# -- keys list / get --------------------------------------------------------------------


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


def test_empty_list_says_no_keys(served_fake: FakeYativo) -> None:
    code, out, _ = invoke(served_fake, "keys", "list")
    assert (code, out) == (0, "No keys.\n")
    code, out, _ = invoke(served_fake, "keys", "list", "--json")
    assert json.loads(out) == []  # JSON stays JSON


# -- a new key's secret: decided before sending --------------------------------------------


@pytest.mark.parametrize("command", [
    ("keys", "create", "--name", "piped"),
    ("keys", "generate", "--name", "piped"),
    ("keys", "rotate", "KEY"),
])
def test_piped_without_a_way_to_the_secret_refuses_before_sending(
        served_fake: FakeYativo, command: tuple[str, ...]) -> None:
    key = served_fake.add_key()
    before = served_fake.keys[key.id].api_secret
    args = [key.id if a == "KEY" else a for a in command]
    code, out, err = invoke(served_fake, *args)
    assert code == 2
    assert out == ""
    assert routes(served_fake) == []  # nothing sent: no key made, none rotated
    assert served_fake.keys[key.id].api_secret == before
    assert len(err.splitlines()) == 1
    for way in ("--json", "--show-secret", "--secret-file"):
        assert way in err
    assert "rerun" not in (out + err).lower()


def test_json_carries_the_secret(served_fake: FakeYativo) -> None:
    code, out, _ = invoke(served_fake, "keys", "create", "--name", "ci", "--permission", "read",
                          "--json")
    assert code == 0
    created = json.loads(out)
    assert created["api_secret"] == served_fake.keys[created["id"]].api_secret


def test_show_secret_prints_it_once_on_a_pipe(served_fake: FakeYativo) -> None:
    for name, extra, env in (("flag", ["--show-secret"], {}),
                             ("env", [], {"YATIVO_SHOW_SECRET": "1"})):
        code, out, err = invoke(served_fake, "keys", "create", "--name", name, *extra, env=env)
        assert code == 0, err
        secret = served_fake.keys[the_key(served_fake, name)].api_secret
        assert out.count(secret) == 1
        assert "shown once" in out
        assert secret not in err


def test_terminal_stdout_shows_the_secret(served_fake: FakeYativo,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "_stdout_tty", lambda: True)
    code, out, _ = invoke(served_fake, "keys", "create", "--name", "tty")
    assert code == 0
    assert out.count(served_fake.keys[the_key(served_fake, "tty")].api_secret) == 1


def test_piped_stdout_with_a_terminal_on_stderr_shows_it_there(
        served_fake: FakeYativo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "_stderr_tty", lambda: True)
    code, out, err = invoke(served_fake, "keys", "create", "--name", "log")
    assert code == 0
    key_id = the_key(served_fake, "log")
    secret = served_fake.keys[key_id].api_secret
    assert secret not in out  # the pipe (a log, tee) does not get it
    assert key_id in out  # the rest of the answer does
    assert err.count(secret) == 1


def test_secret_file_is_new_0600_and_holds_the_secret(served_fake: FakeYativo,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "secret"
    code, out, err = invoke(served_fake, "keys", "create", "--name", "f", "--secret-file",
                            str(path))
    assert code == 0, err
    secret = served_fake.keys[the_key(served_fake, "f")].api_secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == secret + "\n"
    assert secret not in out + err
    assert f"written to {path}" in out


def test_secret_file_mode_is_0600_whatever_the_umask(served_fake: FakeYativo,
                                                     tmp_path: Path) -> None:
    path = tmp_path / "secret"
    old = os.umask(0o377)  # would leave the owner unable to read it
    try:
        code, _, err = invoke(served_fake, "keys", "create", "--name", "u", "--secret-file",
                              str(path))
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_file_with_json_masks_the_secret_in_the_json(served_fake: FakeYativo,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "secret"
    code, out, _ = invoke(served_fake, "keys", "generate", "--name", "j", "--json",
                          "--secret-file", str(path))
    assert code == 0
    data = json.loads(out)
    secret = served_fake.keys[data["id"]].api_secret
    assert secret not in out
    assert data["secret_file"] == str(path)
    assert path.read_text().strip() == secret


def test_existing_secret_file_is_never_overwritten_and_nothing_is_sent(
        served_fake: FakeYativo, tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("the first key's secret\n")
    code, out, err = invoke(served_fake, "keys", "create", "--name", "again", "--secret-file",
                            str(path))
    assert code == 2
    assert "exists" in err and "nothing was sent" in err
    assert routes(served_fake) == []
    assert path.read_text() == "the first key's secret\n"


def test_secret_file_that_cannot_be_created_is_refused_before_sending(
        served_fake: FakeYativo, tmp_path: Path) -> None:
    code, _, err = invoke(served_fake, "keys", "create", "--name", "x", "--secret-file",
                          str(tmp_path / "missing-dir" / "secret"))
    assert code == 2
    assert "cannot create" in err
    assert routes(served_fake) == []


def test_secret_file_is_removed_when_the_request_fails(served_fake: FakeYativo,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "secret"
    code, _, _ = invoke(served_fake, "keys", "rotate", "key_missing", "--secret-file", str(path))
    assert code == 3
    assert not path.exists()  # so it does not block the next try


def test_secret_file_write_failure_names_the_key_to_rotate(
        served_fake: FakeYativo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(self: SecretFile, secret: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(SecretFile, "write", disk_full)
    code, out, err = invoke(served_fake, "keys", "create", "--name", "full", "--secret-file",
                            str(tmp_path / "s"))
    key_id = the_key(served_fake, "full")
    secret = served_fake.keys[key_id].api_secret
    assert code == 1
    assert secret not in out + err  # stderr is not a terminal: never dumped into a log
    assert f"keys rotate {key_id}" in err
    monkeypatch.setattr(app, "_stderr_tty", lambda: True)
    code, out, err = invoke(served_fake, "keys", "create", "--name", "full2", "--secret-file",
                            str(tmp_path / "s2"))
    assert code == 1
    assert served_fake.keys[the_key(served_fake, "full2")].api_secret in err  # a person sees it


# -- other commands ---------------------------------------------------------------------


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
    code, out, _ = invoke(served_fake, "keys", "revoke", key_id, input="y\n")
    assert code == 0
    assert served_fake.keys[key_id].status == "revoked"
    key2 = served_fake.add_key()
    code, _, _ = invoke(served_fake, "keys", "revoke", key2.id, "--yes")
    assert code == 0
    assert served_fake.keys[key2.id].status == "revoked"


@pytest.mark.parametrize("answer", ["n\n", "", None], ids=["no", "end-of-input", "no-stdin"])
def test_revoke_not_confirmed_exits_8_and_sends_nothing(served_fake: FakeYativo,
                                                        answer: str | None) -> None:
    key = served_fake.add_key()
    code, out, err = invoke(served_fake, "keys", "revoke", key.id, input=answer)
    assert code == app.EXIT_NOT_CONFIRMED == 8
    assert "not revoked" in err
    assert served_fake.keys[key.id].status == "active"
    assert routes(served_fake) == []


def test_generate_sends_a_2fa_code_only_when_one_is_to_hand(served_fake: FakeYativo) -> None:
    # Doc 000 needs none; doc 002 asks one of every key operation: sent when given or
    # made from the TOTP secret, never required.
    invoke(served_fake, "keys", "generate", "--name", "a", "--json",
           env={"YATIVO_TOTP_SECRET": ""})
    invoke(served_fake, "keys", "generate", "--name", "b", "--json", "--2fa",
           served_fake.totp_now(), env={"YATIVO_TOTP_SECRET": ""})
    invoke(served_fake, "keys", "generate", "--name", "c", "--json")  # the secret is set
    sent = [e for e in served_fake.journal if e.route == "generate"]
    assert ["x-2fa-token" in e.headers for e in sent] == [False, True, True]
    assert len(served_fake.keys) == 3


def test_2fa_option_only_on_commands_that_use_it() -> None:
    cli_runner = runner()
    with_2fa = {"create", "generate", "rotate", "revoke", "permissions"}
    for name, command in app.keys.commands.items():
        assert ("--2fa" in command.get_help(click.Context(command))) == (name in with_2fa), name
    for args in (["--2fa", "123456", "keys", "list"], ["keys", "list", "--2fa", "123456"],
                 ["token", "--2fa", "123456"]):
        result = cli_runner.invoke(cli, args)
        assert result.exit_code == 2
        assert re.search(r"No such option:? '?--2fa", result.stderr), result.stderr


def test_2fa_needed_with_no_way_to_get_one_is_refused_before_sending(
        served_fake: FakeYativo) -> None:
    key = served_fake.add_key()
    code, _, err = invoke(served_fake, "keys", "revoke", key.id, "--yes",
                          env={"YATIVO_TOTP_SECRET": ""})
    assert code == 2
    assert "--2fa" in err and "YATIVO_TOTP_SECRET" in err
    assert routes(served_fake) == []


def test_2fa_prompt_when_a_terminal_is_attached(served_fake: FakeYativo,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "_interactive", lambda: True)
    key = served_fake.add_key()
    code, out, err = invoke(served_fake, "keys", "revoke", key.id, "--yes",
                            env={"YATIVO_TOTP_SECRET": ""}, input=served_fake.totp_now() + "\n")
    assert code == 0, err
    assert served_fake.keys[key.id].status == "revoked"
    assert served_fake.totp_now() not in out + err  # typed hidden, never echoed


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


# -- credentials without flags that show in ps ----------------------------------------------


def test_api_secret_dash_reads_the_first_line_of_stdin(served_fake: FakeYativo) -> None:
    key = served_fake.add_key()
    code, out, err = invoke(served_fake, "--api-key", key.api_key, "--api-secret", "-",
                            "token", "--json", env={"YATIVO_ACCESS_TOKEN": ""},
                            input=key.api_secret + "\nsecond line (pass show metadata)\n")
    assert code == 0, err
    assert json.loads(out)["expires_in"] == 3600
    assert key.api_secret not in out + err


def test_access_token_dash_reads_stdin(served_fake: FakeYativo) -> None:
    code, out, err = invoke(served_fake, "--access-token", "-", "keys", "list", "--json",
                            env={"YATIVO_ACCESS_TOKEN": ""}, input=served_fake.access_token)
    assert code == 0, err
    assert json.loads(out) == []


def test_a_wrong_secret_from_stdin_never_shows_in_the_error(served_fake: FakeYativo) -> None:
    key = served_fake.add_key()
    wrong = "yvs_wrong_" + "x" * 30
    code, out, err = invoke(served_fake, "--api-key", key.api_key, "--api-secret", "-",
                            "token", "--debug", env={"YATIVO_ACCESS_TOKEN": ""}, input=wrong)
    assert code == 4
    assert wrong not in out + err


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (("--api-secret", "-", "--access-token", "-"), "x\n", "only one of"),
    (("--access-token", "-"), "\n", "no access token on stdin"),
    (("--access-token", "-"), "", "no access token on stdin"),
])
def test_stdin_credentials_misuse_is_a_usage_error(served_fake: FakeYativo, args: tuple[str, ...],
                                                   stdin: str, message: str) -> None:
    code, _, err = invoke(served_fake, *args, "keys", "list", input=stdin,
                          env={"YATIVO_ACCESS_TOKEN": ""})
    assert code == 2
    assert message in err
    assert routes(served_fake) == []


def test_api_secret_prompted_hidden_on_a_terminal(served_fake: FakeYativo,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "_interactive", lambda: True)
    key = served_fake.add_key()
    code, out, err = invoke(served_fake, "token", "--json",
                            env={"YATIVO_API_KEY": key.api_key, "YATIVO_ACCESS_TOKEN": ""},
                            input=key.api_secret + "\n")
    assert code == 0, err
    assert "API secret" in err  # the prompt, on stderr
    assert key.api_secret not in out + err  # hidden input is not echoed


def test_no_credentials_is_a_usage_error_naming_the_variables() -> None:
    result = runner().invoke(cli, ["keys", "list"], env={
        "YATIVO_ACCESS_TOKEN": "", "YATIVO_API_KEY": "", "YATIVO_API_SECRET": ""})
    assert result.exit_code == 2
    assert "YATIVO_ACCESS_TOKEN" in result.stderr and "YATIVO_API_KEY" in result.stderr


# -- help, version, errors, exit codes ------------------------------------------------------


def _all_help() -> Iterator[tuple[str, str]]:
    def walk(command: click.Command, parent: click.Context | None) -> Iterator[tuple[str, str]]:
        ctx = click.Context(command, info_name=command.name, parent=parent)
        yield ctx.command_path, command.get_help(ctx)
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                yield from walk(sub, ctx)

    yield from walk(cli, None)


def test_help_has_no_internal_names_and_says_env_vars_are_safe() -> None:
    helps = dict(_all_help())
    assert len(helps) >= 11
    for path, text in helps.items():
        assert not re.search(r"doc\s*0\d\d", text, re.IGNORECASE), path
    top = helps["yativo"]
    for var in ("YATIVO_API_KEY", "YATIVO_API_SECRET", "YATIVO_ACCESS_TOKEN",
                "YATIVO_TOTP_SECRET", "YATIVO_BASE_URL"):
        assert var in top
    assert "Flags show in ps and in shell history" in top
    assert "--api-secret -" in top


def test_exit_codes_are_documented_in_help_and_docstring() -> None:
    top = dict(_all_help())["yativo"]
    doc = app.__doc__ or ""
    for code, meaning in app.EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", top, re.MULTILINE), code
        assert f"- {code}: {meaning}" in doc, code
    assert "8" in dict(_all_help())["yativo keys revoke"]


def test_version() -> None:
    result = runner().invoke(cli, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"yativo {y.__version__}\n")


@pytest.mark.parametrize(
    ("args", "env", "exit_code"),
    [
        (("keys", "get", "key_missing"), {}, 3),  # API error
        (("keys", "list"), {"YATIVO_ACCESS_TOKEN": "bogus"}, 4),  # auth
        (("keys", "revoke", "k", "--yes", "--2fa", "000000"), {}, 4),  # wrong 2FA
        (("keys", "list"), {"YATIVO_BASE_URL": "http://127.0.0.1:9/api"}, 6),  # connection
        (("keys", "create"), {}, 2),  # usage: --name missing (click's own error)
        (("keys", "create", "--name", "x", "--expires-in-days", "0", "--json"), {}, 2),
        (("keys", "list", "--bogus"), {}, 2),
        (("keys", "get", "key_" + "x" * 200), {}, 3),  # a message far wider than 80 columns
    ],
)
@pytest.mark.usefixtures("no_retries")
def test_exit_codes_and_one_line_errors(served_fake: FakeYativo, args: tuple[str, ...],
                                        env: dict[str, str], exit_code: int) -> None:
    code, out, err = invoke(served_fake, *args, env=env)
    assert code == exit_code, (out, err)
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err  # stderr is not a terminal: one line, unwrapped


def test_errors_are_one_json_object_with_json(served_fake: FakeYativo) -> None:
    code, _, err = invoke(served_fake, "keys", "get", "key_missing", "--json")
    assert code == 3
    assert json.loads(err) == {"error": "NotFoundError", "message": json.loads(err)["message"],
                               "exit_code": 3}


def test_click_usage_errors_keep_their_block_on_a_terminal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "_stderr_tty", lambda: True)
    result = runner().invoke(cli, ["keys", "create"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: yativo keys create")


@pytest.mark.usefixtures("no_retries")
def test_rate_limited_exit_code(served_fake: FakeYativo) -> None:
    served_fake.rate_limits = ()
    served_fake.set_faults("list", error_rate=1.0, error_statuses=(429,))
    code, _, err = invoke(served_fake, "keys", "list")
    assert code == 5, err


def test_debug_shows_traceback(served_fake: FakeYativo) -> None:
    code, _, err = invoke(served_fake, "keys", "get", "key_missing", "--debug")
    assert code == 3
    assert "Traceback" in err


def test_demo_end_to_end() -> None:
    result = runner().invoke(cli, ["demo", "--calls", "50", "--json"])
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


def test_missing_cli_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from yativo_async import cli as cli_module

    monkeypatch.setitem(sys.modules, "click", None)  # import click -> ImportError
    with pytest.raises(SystemExit) as info:
        cli_module.main()
    assert info.value.code == 2
    assert "pip install 'yativo-async[cli]'" in capsys.readouterr().err


# -- piped, run twice, never a secret unless asked -------------------------------------------


def test_table_on_a_pipe_is_whole_one_row_per_line(served_fake: FakeYativo) -> None:
    name = "a rather long production server key name, far wider than eighty columns"
    scopes = ["transactions:read", "accounts:read", "webhooks:manage"]
    key = served_fake.add_key(name, scopes)
    code, out, _ = invoke(served_fake, "keys", "list")
    assert code == 0
    (row,) = [line for line in out.splitlines() if key.id in line]
    assert name in row and ", ".join(scopes) in row  # nothing wrapped or cut with "…"
    assert "…" not in out


def test_a_piped_create_run_twice_creates_nothing(served_fake: FakeYativo) -> None:
    for _ in range(2):
        code, out, err = invoke(served_fake, "keys", "create", "--name", "twice")
        assert (code, out) == (2, "")
    assert served_fake.keys == {}
    assert routes(served_fake) == []


def test_rotate_twice_into_one_secret_file_rotates_once(served_fake: FakeYativo,
                                                        tmp_path: Path) -> None:
    key = served_fake.add_key()
    path = tmp_path / "secret"
    assert invoke(served_fake, "keys", "rotate", key.id, "--secret-file", str(path))[0] == 0
    code, _, err = invoke(served_fake, "keys", "rotate", key.id, "--secret-file", str(path))
    assert code == 2 and "exists" in err
    assert routes(served_fake).count("rotate") == 1
    assert path.read_text() == served_fake.keys[key.id].api_secret + "\n"  # still the live one


@pytest.mark.skipif(sys.platform == "win32", reason="Windows lets a second socket share a port")
def test_fake_server_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner().invoke(cli, ["fake-server", "--port", str(port), "--stop-after",
                                          "0"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert f"port {port}" in line and "in use" in line and "--port" in line


def _secrets_of(fake: FakeYativo) -> set[str]:
    return {fake.access_token, fake.totp_secret, fake.totp_now(),
            *(k.api_secret for k in fake.keys.values())}


@pytest.mark.usefixtures("no_retries")
def test_no_secret_in_any_output_unless_asked(served_fake: FakeYativo, tmp_path: Path) -> None:
    """Every command, plain, --json and --debug, success and failure: no API secret, token
    or 2FA code (given or made) on stdout or stderr, unless asked for (--json / --show-secret
    / --reveal on a command that makes one). Each command's output is checked against the
    secrets that exist after it, old and new."""
    key = served_fake.add_key("ops", ["read"])
    pair = {"YATIVO_API_KEY": key.api_key, "YATIVO_API_SECRET": key.api_secret,
            "YATIVO_ACCESS_TOKEN": ""}
    given_2fa = served_fake.totp_now()
    wrong_secret = "yvs_live_" + "w" * 40
    runs: list[tuple[tuple[str, ...], dict[str, str], str | None]] = [
        (("keys", "list"), {}, None),
        (("keys", "get", key.id), {}, None),
        (("keys", "get", "key_missing", "--debug"), {}, None),
        (("token",), pair, None),
        (("token", "--json"), pair, None),
        (("token", "--debug"), {**pair, "YATIVO_API_SECRET": wrong_secret}, None),
        (("--api-secret", "-", "token", "--debug"), {**pair, "YATIVO_API_SECRET": ""},
         wrong_secret + "\n"),
        (("--access-token", "yat_user_bogus_" + "b" * 20, "keys", "list", "--debug"),
         {"YATIVO_ACCESS_TOKEN": ""}, None),
        (("keys", "create", "--name", "f", "--secret-file", str(tmp_path / "a")), {}, None),
        (("keys", "generate", "--name", "g", "--json", "--secret-file", str(tmp_path / "b")),
         {}, None),
        (("keys", "rotate", key.id, "--secret-file", str(tmp_path / "c"), "--2fa", given_2fa),
         {"YATIVO_TOTP_SECRET": ""}, None),
        (("keys", "create", "--name", "piped"), {}, None),  # refused: nowhere to show it
        (("keys", "permissions", key.id, "read", "--2fa", "000000", "--debug"),
         {"YATIVO_TOTP_SECRET": ""}, None),
        (("keys", "permissions", key.id, "read", "write"), {}, None),
        (("keys", "revoke", key.id, "--yes", "--json"), {}, None),
    ]
    for args, env, stdin in runs:
        code, out, err = invoke(served_fake, *args, env=env, input=stdin)
        leaked = {s for s in _secrets_of(served_fake) | {given_2fa, wrong_secret}
                  if s in out + err}
        assert not leaked, (args, code, out, err)
        assert not re.search(r"eyJ[\w-]{8,}", out + err), args  # no bearer token


class _CtrlCOnRead(io.RawIOBase):
    """stdin on which the reader is interrupted, as by Ctrl-C while waiting for a line."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise KeyboardInterrupt


@pytest.mark.parametrize("json_errors", [False, True])
def test_ctrl_c_while_reading_a_secret_from_stdin_exits_130(served_fake: FakeYativo,
                                                            json_errors: bool) -> None:
    args = ["--access-token", "-", "keys", "list", *(["--json"] if json_errors else [])]
    result = runner().invoke(cli, args, env={**fake_env(served_fake),
                                                "YATIVO_ACCESS_TOKEN": ""},
                                input=io.BufferedReader(_CtrlCOnRead()))
    assert result.exit_code == 130
    (line,) = result.stderr.splitlines()  # click's own handler would add a blank line
    assert "interrupted" in line
    assert routes(served_fake) == []


def test_readme_lists_the_exit_codes_the_command_uses() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## The command line", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    assert documented == {code for code, _ in app.EXIT_CODES}


def test_given_secrets_are_masked_in_messages_and_short_values_are_left_alone() -> None:
    c = app.Ctx(base_url=None, api_key=None, api_secret=None, access_token=None,
                json_output=False, debug=False)
    c._remember("yvs_live_" + "s" * 20)
    c._remember("123456")
    c._remember("x")
    assert (c._mask("secret yvs_live_" + "s" * 20 + ", code 123456, base_url http://x.example")
            == "secret ***, code ***, base_url http://x.example")


def test_a_secret_file_whose_writing_fails_is_removed(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def io_error(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    path = tmp_path / "secret"
    sink = SecretFile(str(path))
    sink.create()
    monkeypatch.setattr(os, "fsync", io_error)  # as _secret_out sees it
    with pytest.raises(OSError):
        sink.write("yvs_live_" + "s" * 20)
    assert not path.exists()  # a partial secret is no secret, and would block the next try


def test_demo_on_a_pipe_prints_the_table_and_no_progress_residue() -> None:
    result = runner().invoke(cli, ["demo", "--calls", "20", "--no-faults"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "What the SDK did"


def test_access_token_flag_wins_over_a_key_pair_in_the_environment(
        served_fake: FakeYativo) -> None:
    env = {"YATIVO_API_KEY": "yvk_live_env", "YATIVO_API_SECRET": "yvs_live_env_secret",
           "YATIVO_ACCESS_TOKEN": ""}
    code, out, err = invoke(served_fake, "--access-token", "-", "keys", "list", "--json",
                            env=env, input=served_fake.access_token + "\n")
    assert code == 0, err
    assert json.loads(out) == []
    assert "token" not in routes(served_fake)  # the user's token, no exchange of the pair


def test_a_secret_file_reserves_its_space_before_sending(tmp_path: Path) -> None:
    if not hasattr(os, "posix_fallocate"):
        pytest.skip("no posix_fallocate here")
    path = tmp_path / "secret"
    sink = SecretFile(str(path))
    sink.create()
    assert path.stat().st_size == 4096  # reserved: a full disk fails here, before the send
    sink.write("yvs_live_" + "s" * 20)
    assert path.read_text() == "yvs_live_" + "s" * 20 + "\n"  # the reserve's zeros gone
    reserved = SecretFile(str(tmp_path / "unused"))
    reserved.create()
    reserved.discard()  # the request failed: the reserved, never written file goes
    assert not (tmp_path / "unused").exists()


def test_a_disk_with_no_room_for_the_secret_file_is_refused_before_sending(
        served_fake: FakeYativo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    path = tmp_path / "secret"
    code, out, err = invoke(served_fake, "keys", "create", "--name", "full",
                            "--secret-file", str(path))
    assert code == 2
    assert "no room" in err and "nothing was sent" in err
    assert not path.exists()
    assert routes(served_fake) == []


@pytest.mark.parametrize("args", [
    ("--json", "keys", "get"),  # a missing argument
    ("keys", "create", "--json"),  # a missing option
    ("--json", "demo", "--calls", "0"),  # out of range
    ("--json", "fake-server", "--port", "70000"),
])
def test_usage_errors_are_one_json_object_with_json(served_fake: FakeYativo,
                                                    args: tuple[str, ...]) -> None:
    code, out, err = invoke(served_fake, *args)
    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    error = json.loads(line)
    assert error["error"] == "usage" and error["exit_code"] == 2 and error["message"]


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_fake_server_port_out_of_range_is_a_usage_error(port: str) -> None:
    result = runner().invoke(cli, ["fake-server", "--port", port])
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr and "OverflowError" not in result.stderr
    assert "0<=x<=65535" in result.stderr


def test_permissions_json_says_what_the_server_made_of_them(served_fake: FakeYativo) -> None:
    key = served_fake.add_key()
    code, out, _ = invoke(served_fake, "--json", "keys", "permissions", key.id, "read", "read")
    assert code == 0
    assert json.loads(out) == {"id": key.id,
                               "permissions": list(served_fake.keys[key.id].permissions)}
    assert json.loads(out)["permissions"] == ["read"]  # the fake drops the repeat


def test_an_unknown_outcome_says_what_to_run_in_the_cli_s_words() -> None:
    c = app.Ctx(base_url=None, api_key=None, api_secret=None, access_token=None,
                json_output=False, debug=False)
    exc = y.OutcomeUnknownError("create of key 'x' may or may not have happened; ... Check "
                                "api_keys.list() before trying again", operation="create")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as info:
        c.fail_with(exc)
    assert info.value.code == 7
    assert "yativo keys list" in stderr.getvalue()
    assert "api_keys.list()" not in stderr.getvalue()


def test_a_long_wait_before_a_retry_is_said_on_stderr() -> None:
    stderr = io.StringIO()
    event = y.RetryEvent(call_id=1, operation="list", method="GET", path="/apikey/list",
                         attempt=1, wait=59.0, error="RateLimitError", status=429)
    with contextlib.redirect_stderr(stderr):
        app._Notices().retry(event)
        app._Notices().retry(attrs.evolve(event, wait=0.2))  # a short backoff: quiet
    (line,) = stderr.getvalue().splitlines()
    assert line == "note: list got RateLimitError (HTTP 429); retrying in 59 s"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        app._Notices(json_output=True).retry(event)
    assert json.loads(stderr.getvalue()) == {
        "note": "list got RateLimitError (HTTP 429); retrying in 59 s", "retry_in": 59.0}


@pytest.mark.parametrize("how", ["--json", "--secret-file"])
def test_a_create_answer_that_does_not_decode_still_delivers_the_secret(
        served_fake: FakeYativo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        how: str) -> None:
    handle = served_fake.handle

    async def malformed(method: str, path: str, headers: Any, body: bytes) -> Any:
        status, out, payload, slow = await handle(method, path, headers, body)
        if path.endswith("/apikey/create") and status == 201:
            data = json.loads(payload)
            data.get("data", data)["created_at"] = "yesterday"
            payload = json.dumps(data).encode()
        return status, out, payload, slow

    monkeypatch.setattr(served_fake, "handle", malformed)
    path = tmp_path / "secret"
    extra = ["--json"] if how == "--json" else ["--secret-file", str(path)]
    code, out, err = invoke(served_fake, "keys", "create", "--name", "odd", *extra)
    key_id = the_key(served_fake, "odd")
    secret = served_fake.keys[key_id].api_secret
    assert code == 3
    (line,) = err.splitlines()
    assert key_id in line and "did not decode" in line and secret not in line
    if how == "--json":
        assert json.loads(out)["api_secret"] == secret
        assert "written" not in line and "shown on stdout" in line
    else:
        assert path.read_text() == secret + "\n"
        assert f"written to {path}" in line


# -- what the server or a user names is shown as text, whole --------------------------------


@pytest.mark.parametrize("name", ["[/red]", "[bold]markup[/bold]",
                                  "x[link=https://example.invalid]click[/link]"])
def test_a_name_with_rich_markup_is_shown_as_it_is(served_fake: FakeYativo,
                                                   name: str) -> None:
    # rich read names as markup: "[/red]" crashed the command after the key was made (its
    # secret lost, a MarkupError traceback), and every later list and get crashed too.
    code, out, err = invoke(served_fake, "keys", "create", "--name", name, "--show-secret")
    assert code == 0, err
    key_id = the_key(served_fake, name)
    assert f"name: {name}" in out
    assert served_fake.keys[key_id].api_secret in out
    for args in (("keys", "list"), ("keys", "get", key_id)):
        code, out, err = invoke(served_fake, *args)
        assert (code, err) == (0, "")
        assert name in out


def test_control_characters_from_the_server_reach_no_terminal(
        served_fake: FakeYativo) -> None:
    served_fake.add_key("evil\x1b]0;pwned\x07\x1b[2Jname\nsecond line", ["read"])
    code, out, _ = invoke(served_fake, "keys", "list")
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07\\x1b[2Jname\\nsecond line" in out  # one row, shown as escapes
    # an error message quoting the server (a window-title sequence, a newline)
    assert app._one_line("bad \x1b]0;pwned\x07 thing\nnext") == "bad \\x1b]0;pwned\\x07 thing next"


def test_a_narrow_terminal_cuts_no_value(served_fake: FakeYativo,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # At 80 columns a doc-000 api_key (55 characters) ended "…" in the create table: shown
    # once, and never again (list and get do not return it).
    monkeypatch.setattr(app, "_stdout_tty", lambda: True)
    code, out, err = invoke(served_fake, "keys", "create", "--name", "narrow-" + "n" * 60,
                            env={"COLUMNS": "40"})
    assert code == 0, err
    key_id = the_key(served_fake, "narrow-" + "n" * 60)
    key = served_fake.keys[key_id]
    assert f"  api_key: {key.api_key}\n" in out
    assert f"  id: {key_id}\n" in out
    assert key.api_secret in out
    code, out, _ = invoke(served_fake, "keys", "list", env={"COLUMNS": "40"})
    assert code == 0 and "…" not in out


@pytest.mark.parametrize(("args", "says"), [
    (("keys", "create", "--name", "cut", "--json"), "yativo keys list"),
    (("keys", "generate", "--name", "cut", "--json"), "yativo keys list"),
    (("keys", "rotate", "KEY", "--json"), "rotate it again"),
])
def test_a_success_answer_cut_before_its_secret_says_the_server_acted(
        served_fake: FakeYativo, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...],
        says: str) -> None:
    # It was exit 3 ("an API error"), no word that the key exists: a second try made a
    # second key, or rotated again.
    key = served_fake.add_key()
    handle = served_fake.handle

    async def cut(method: str, path: str, headers: Any, body: bytes) -> Any:
        status, out, payload, slow = await handle(method, path, headers, body)
        if method == "POST" and not path.endswith("/token") and status < 300:
            payload = payload[:payload.index(b'"api_secret"')]
        return status, out, payload, slow

    monkeypatch.setattr(served_fake, "handle", cut)
    code, out, err = invoke(served_fake, *(key.id if a == "KEY" else a for a in args))
    assert code == 7
    assert out == ""
    (line,) = err.splitlines()
    error = json.loads(line)
    assert error["error"] == "OutcomeUnknownError" and error["exit_code"] == 7
    assert "could not be read" in error["message"] and says in error["message"]


@pytest.mark.parametrize(("env", "args", "says"), [
    ({"YATIVO_ACCESS_TOKEN": "", "YATIVO_API_KEY": "yvk_live_x"}, (), "no API secret"),
    ({"YATIVO_ACCESS_TOKEN": "", "YATIVO_API_SECRET": "yvs_live_x"}, (), "no API key"),
    ({"YATIVO_BASE_URL": ""}, (), "is empty"),
    ({}, ("--base-url", ""), "is empty"),
    ({"YATIVO_BASE_URL": "  "}, (), "is empty"),
])
def test_incomplete_settings_are_named_and_nothing_is_sent(
        served_fake: FakeYativo, env: dict[str, str], args: tuple[str, ...], says: str) -> None:
    # A key without its secret said "api_secret must not be empty or blank"; an empty base
    # URL silently meant production (a development token sent there).
    code, out, err = invoke(served_fake, *args, "keys", "list", env=env)
    assert code == 2
    (line,) = err.splitlines()
    assert says in line and "nothing was sent" in line
    assert routes(served_fake) == []


def test_a_bad_totp_secret_from_the_environment_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YATIVO_ACCESS_TOKEN", "tok_" + "a" * 20)
    monkeypatch.setenv("YATIVO_TOTP_SECRET", "not base32!")
    with pytest.raises(ValueError, match=r"^YATIVO_TOTP_SECRET: two_factor is not a TOTP") as info:
        y.YativoClient.from_env()
    assert info.value.__context__ is None and info.value.__cause__ is None
    monkeypatch.delenv("YATIVO_TOTP_SECRET")
    monkeypatch.setenv("YATIVO_BASE_URL", " ")
    with pytest.raises(ValueError, match=r"YATIVO_BASE_URL is empty"):
        y.YativoClient.from_env()
    y.YativoClient.from_env(base_url="http://127.0.0.1:9/api", allow_insecure_http=True)
    monkeypatch.delenv("YATIVO_BASE_URL")
    monkeypatch.delenv("YATIVO_ACCESS_TOKEN")
    monkeypatch.setenv("YATIVO_API_KEY", "yvk_live_x")
    with pytest.raises(ValueError, match=r"YATIVO_API_KEY is set but YATIVO_API_SECRET"):
        y.YativoClient.from_env()


@pytest.mark.parametrize("path", ["-", ""])
def test_secret_file_dash_is_no_file_named_dash(served_fake: FakeYativo, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                path: str) -> None:
    # "-" is stdin for --api-secret; --secret-file - wrote a file named "-".
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke(served_fake, "keys", "create", "--name", "d", "--secret-file", path)
    assert code == 2
    assert "--show-secret" in err and "nothing was sent" in err
    assert list(tmp_path.iterdir()) == []
    assert routes(served_fake) == []


def test_a_refusal_whose_body_cannot_be_read_is_no_key_to_look_for(
        served_fake: FakeYativo, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 403 in an encoding the client cannot undo: no status reaches the error, and it was
    # taken for a success ("the key may have been created", exit 7).
    answer_at(served_fake, monkeypatch, "/apikey/create",
              403, {"Content-Encoding": "br"}, b"\x8b\x02\x80not brotli")
    code, out, err = invoke(served_fake, "keys", "create", "--name", "n", "--json")
    assert code == 3
    assert "may have been created" not in err
