"""The real ``yativo`` command as a subprocess (``python -m yativo_async.cli``), with its
stdout a pipe as under ``| tee log`` or in CI, against FakeYativo on loopback: where a new
key's secret goes, a closed pipe, Ctrl-C, and a command run twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import yativo_async as y
from yativo_async.testing import FakeYativo

from .test_cli import answer_at, fake_env, routes, serve_in_thread, the_key

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes, ptys, signals")


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_the_command() -> Iterator[None]:
    """A test run started in the background (``cmd &``, nohup) ignores SIGINT, and a child
    inherits an ignored signal: the command would rightly keep ignoring Ctrl-C, as a Unix
    program started that way should. Give the children the default disposition instead."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class HeldFake(FakeYativo):
    """Holds every request to ``held`` (a path ending) until released; says when one has
    arrived, so a test interrupts a request that is surely in flight, without a sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.held = "/apikey/create"
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def handle(self, method: str, path: str, headers: Mapping[str, str],
                     body: bytes) -> tuple[int, dict[str, str], bytes, float]:
        if path.endswith(self.held):
            self.arrived.set()
            await asyncio.to_thread(self.release.wait, 60)
        return await super().handle(method, path, headers, body)


@pytest.fixture
def served_fake() -> Iterator[HeldFake]:
    fake = HeldFake()
    fake.release.set()  # not held unless a test clears it
    with serve_in_thread(fake):
        yield fake


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "yativo_async.cli", *args]


@contextlib.contextmanager
def held_request(fake: HeldFake, *args: str, env: dict[str, str] | None = None,
                 **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """The command with stdout and stderr piped, no stdin, yielded once its request to
    ``fake.held`` is at the server (held there until the block ends); killed if the block
    leaves it running."""
    fake.release.clear()
    proc = subprocess.Popen(command(*args), cwd=ROOT, env={**environment(fake), **(env or {})},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)
    try:
        assert fake.arrived.wait(60)  # the request is at the server
        yield proc
    finally:
        fake.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def environment(fake: FakeYativo, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YATIVO_")}
    env.update(fake_env(fake), PYTHONPATH=str(ROOT), **extra)
    return env


def run(fake: FakeYativo, *args: str, stdout: int = subprocess.PIPE,
        stderr: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """The command with stdout and stderr piped (not terminals) and no stdin."""
    return subprocess.run(command(*args), cwd=ROOT, env=environment(fake), text=True,
                          stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, timeout=120,
                          check=False)


@pytest.mark.parametrize("args", [("keys", "create", "--name", "piped"), ("keys", "rotate", "KEY")])
def test_piped_without_a_way_to_the_secret_run_twice_changes_nothing(
        served_fake: FakeYativo, args: tuple[str, ...]) -> None:
    key = served_fake.add_key()
    secret = key.api_secret
    for _ in range(2):  # as a script retried by hand or by CI would
        result = run(served_fake, *(key.id if a == "KEY" else a for a in args))
        assert result.returncode == 2
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert "--json" in line and "--show-secret" in line and "--secret-file" in line
        assert "rerun" not in line.lower()
    assert list(served_fake.keys) == [key.id] and served_fake.keys_created == 0
    assert served_fake.keys[key.id].api_secret == secret  # not rotated either
    assert routes(served_fake) == []  # no request was ever sent


def test_piped_create_with_json_leaves_the_secret_readable(served_fake: FakeYativo) -> None:
    result = run(served_fake, "keys", "create", "--name", "ci", "--json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["api_secret"] == served_fake.keys[created["id"]].api_secret


def test_piped_show_secret(served_fake: FakeYativo) -> None:
    result = run(served_fake, "keys", "generate", "--name", "s", "--show-secret")
    assert result.returncode == 0, result.stderr
    secret = served_fake.keys[the_key(served_fake, "s")].api_secret
    assert result.stdout.count(secret) == 1


def test_secret_file_0600_and_a_second_run_changes_nothing(served_fake: FakeYativo,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "prod.secret"
    first = run(served_fake, "keys", "create", "--name", "prod", "--secret-file", str(path))
    assert first.returncode == 0, first.stderr
    secret = served_fake.keys[the_key(served_fake, "prod")].api_secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == secret + "\n"
    assert secret not in first.stdout + first.stderr

    again = run(served_fake, "keys", "create", "--name", "prod", "--secret-file", str(path))
    assert again.returncode == 2
    assert "exists" in again.stderr
    assert served_fake.keys_created == 1  # no second key whose secret nobody has
    assert path.read_text() == secret + "\n"


def test_rotate_into_a_secret_file(served_fake: FakeYativo, tmp_path: Path) -> None:
    key = served_fake.add_key()
    old = key.api_secret
    path = tmp_path / "rotated"
    result = run(served_fake, "keys", "rotate", key.id, "--secret-file", str(path))
    assert result.returncode == 0, result.stderr
    assert served_fake.keys[key.id].api_secret != old
    assert path.read_text() == served_fake.keys[key.id].api_secret + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_goes_to_stderr_when_that_is_a_terminal(served_fake: FakeYativo) -> None:
    import pty

    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(command("keys", "create", "--name", "tee"), cwd=ROOT,
                                env=environment(served_fake), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=terminal)
        os.close(terminal)
        terminal = -1
        seen = b""
        while True:  # until the command closes its end of the terminal
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: no writer left
                break
            if not chunk:
                break
            seen += chunk
        stdout, _ = proc.communicate(timeout=120)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert proc.returncode == 0, seen
    key_id = the_key(served_fake, "tee")
    secret = served_fake.keys[key_id].api_secret
    assert secret.encode() not in stdout  # the pipe (| tee log) never gets it
    assert key_id.encode() in stdout
    assert seen.count(secret.encode()) == 1  # the person at the terminal does


@pytest.mark.parametrize("args", [("keys", "list", "--json"), ("keys", "list"), ("--version",)])
def test_stdout_closed_early_exits_quietly(served_fake: FakeYativo,
                                           args: tuple[str, ...]) -> None:
    for i in range(30):
        served_fake.add_key(f"key {i}")
    reader, writer = os.pipe()
    os.close(reader)  # like `| head` that has already exited
    try:
        result = run(served_fake, *args, stdout=writer)
    finally:
        os.close(writer)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr


def test_stdout_closed_before_the_secret_says_which_key_to_rotate(
        served_fake: FakeYativo) -> None:
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = run(served_fake, "keys", "create", "--name", "lost", "--json", stdout=writer)
    finally:
        os.close(writer)
    key_id = the_key(served_fake, "lost")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert f"keys rotate {key_id}" in line
    assert served_fake.keys[key_id].api_secret not in result.stderr  # stderr is no terminal


#: Ctrl-C; SIGTERM (a CI timeout, kill) is handled as Ctrl-C is
SIGNALS = pytest.mark.parametrize(("sig", "code", "word"), [
    (signal.SIGINT, 130, "interrupted"),
    (signal.SIGTERM, 143, "terminated"),
], ids=["ctrl-c", "sigterm"])


@SIGNALS
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_one_signal_during_create_waits_for_the_answer_and_keeps_the_secret(
        served_fake: HeldFake, tmp_path: Path, sig: signal.Signals, code: int,
        word: str, host: str) -> None:
    # The request is at the server, which acts whatever the client does: stopping then
    # dropped the answer and the only copy of the new secret (the file was removed, the
    # key existed). One signal now waits for the answer, says so, delivers the secret, and
    # then stops as asked. A host name (resolved in aiohttp's threads, which a signal mask
    # of the main thread did not hold) as well as an address.
    path = tmp_path / "secret"
    url = served_fake.base_url.replace("127.0.0.1", host)
    with held_request(served_fake, "keys", "create", "--name", "slow", "--secret-file",
                      str(path), env={"YATIVO_BASE_URL": url}) as proc:
        assert path.exists()  # made before sending
        proc.send_signal(sig)
        assert proc.stderr is not None
        note = proc.stderr.readline()
        assert note.startswith("note: ") and "Ctrl-C again" in note
        served_fake.release.set()  # the answer comes
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    secret = served_fake.keys[the_key(served_fake, "slow")].api_secret
    assert path.read_text() == secret + "\n"
    (line,) = err.splitlines()
    assert word in line
    assert "Traceback" not in err


@SIGNALS
def test_a_second_signal_during_create_stops_at_once(
        served_fake: HeldFake, tmp_path: Path, sig: signal.Signals, code: int,
        word: str) -> None:
    path = tmp_path / "secret"
    with held_request(served_fake, "keys", "create", "--name", "slow", "--secret-file",
                      str(path)) as proc:
        proc.send_signal(sig)
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("note: ")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    (line,) = err.splitlines()
    assert word in line and "may have been created" in line
    assert "keys list" in line
    assert "Traceback" not in err
    assert not path.exists()  # empty, so removed: it does not block the next try


@pytest.mark.parametrize("status", [429, 503])
def test_a_signal_that_waited_for_an_answer_to_be_retried_sends_nothing_more(
        served_fake: HeldFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        status: int) -> None:
    # The awaited answer was a 429 (or 503) with Retry-After: no key made. The client then
    # waited and sent the create again, and made the key the user had stopped.
    handle = served_fake.handle
    answered: list[int] = []

    async def refuse_first(method: str, path: str, headers: Any, body: bytes) -> Any:
        if path.endswith("/apikey/create") and not answered:
            answered.append(1)
            served_fake.arrived.set()
            await asyncio.to_thread(served_fake.release.wait, 60)
            return status, {"Retry-After": "1"}, b'{"message": "busy"}', 0.0
        return await handle(method, path, headers, body)

    monkeypatch.setattr(served_fake, "handle", refuse_first)
    served_fake.held = "/never"
    path = tmp_path / "secret"
    with held_request(served_fake, "keys", "create", "--name", "busy", "--secret-file",
                      str(path)) as proc:
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("note: ")
        served_fake.release.set()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert served_fake.keys_created == 0
    assert [e.route for e in served_fake.journal].count("create") == 0
    assert not path.exists()


@SIGNALS
def test_a_signal_before_the_create_is_sent_stops_at_once(
        served_fake: HeldFake, tmp_path: Path, sig: signal.Signals, code: int,
        word: str) -> None:
    # Held at the token exchange: nothing that makes a key is on its way yet.
    served_fake.held = "/apikey/token"
    key = served_fake.add_key()
    path = tmp_path / "secret"
    proc_env = {"YATIVO_ACCESS_TOKEN": "", "YATIVO_API_KEY": key.api_key,
                "YATIVO_API_SECRET": key.api_secret}
    served_fake.release.clear()
    proc = subprocess.Popen(command("keys", "create", "--name", "early", "--secret-file",
                                    str(path)), cwd=ROOT,
                            env={**environment(served_fake), **proc_env},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert served_fake.arrived.wait(60)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        served_fake.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code
    (line,) = err.splitlines()
    assert word in line
    assert not path.exists()
    assert served_fake.keys_created == 0


def test_revoke_with_no_stdin_is_not_confirmed(served_fake: FakeYativo) -> None:
    key = served_fake.add_key()
    result = run(served_fake, "keys", "revoke", key.id)
    assert result.returncode == 8
    assert served_fake.keys[key.id].status == "active"
    assert routes(served_fake) == []


def test_version_and_one_line_errors(served_fake: FakeYativo) -> None:
    result = run(served_fake, "--version")
    assert (result.returncode, result.stdout) == (0, f"yativo {y.__version__}\n")
    result = run(served_fake, "keys", "get", "key_" + "x" * 300)
    assert result.returncode == 3
    assert len(result.stderr.splitlines()) == 1


# -- Ctrl-C wherever it lands: exit 130, one line, no traceback ------------------------------


@pytest.mark.parametrize("json_errors", [False, True])
def test_ctrl_c_during_a_request_exits_130_in_one_line(served_fake: HeldFake,
                                                       json_errors: bool) -> None:
    served_fake.held = "/apikey/list"
    args = ("keys", "list", "--json") if json_errors else ("keys", "list")
    with held_request(served_fake, *args) as proc:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert out == ""
    (line,) = err.splitlines()
    if json_errors:
        assert json.loads(line) == {"error": "interrupted", "message": "interrupted",
                                    "exit_code": 130}
    else:
        assert line == "error: interrupted"


def test_started_with_ctrl_c_ignored_it_stays_ignored(served_fake: HeldFake) -> None:
    """Under nohup or ``cmd &`` SIGINT is ignored, and the command leaves it so (on every
    Python): the interrupt sent mid-request changes nothing, the list arrives."""
    served_fake.add_key(name="kept")
    served_fake.held = "/apikey/list"
    with held_request(served_fake, "keys", "list", "--json",
                      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) as proc:
        proc.send_signal(signal.SIGINT)
        served_fake.release.set()
        out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (0, "")
    assert [k["name"] for k in json.loads(out)] == ["kept"]


class Terminal:
    """The command with stdin and stderr on a pseudo-terminal (a person at a prompt) and
    stdout a pipe. It runs in a session of its own, so it has no controlling terminal and
    its hidden prompts use this one rather than the terminal running the tests."""

    def __init__(self, fake: FakeYativo, *args: str) -> None:
        import pty

        self.controller, terminal = pty.openpty()
        self.proc = subprocess.Popen(command(*args), cwd=ROOT, env=environment(fake),
                                     stdin=terminal, stderr=terminal, stdout=subprocess.PIPE,
                                     start_new_session=True)
        os.close(terminal)
        self.seen = b""

    def expect(self, text: str, timeout: float = 60) -> None:
        """Read the terminal until ``text`` has appeared (a deadline, not a guess)."""
        import select

        while text.encode() not in self.seen:
            ready, _, _ = select.select([self.controller], [], [], timeout)
            assert ready, f"no {text!r} on the terminal; saw {self.seen!r}"
            try:
                chunk = os.read(self.controller, 4096)
            except OSError:  # EIO: the command closed the terminal
                chunk = b""
            assert chunk, f"terminal closed before {text!r}; saw {self.seen!r}"
            self.seen += chunk

    def type(self, text: str) -> None:
        os.write(self.controller, text.encode())

    def wait_reading(self) -> None:
        """Wait until the command, its prompt out, waits in read() for the answer.

        Only then is echo surely off for a hidden prompt, and a SIGINT surely interrupts the
        read (one landing between the prompt and read() is noted, then read() blocks on, as
        in any C program). Once the prompt is out, the only place it can sleep is that read:
        a state, polled with a deadline (Linux's /proc)."""
        import time

        stat_file = Path(f"/proc/{self.proc.pid}/stat")
        if not stat_file.exists():
            pytest.skip("needs /proc to see the command waiting at its prompt")
        deadline = time.monotonic() + 60
        # The state is the field after the command name in parentheses.
        while stat_file.read_text().rpartition(")")[2].split()[0] != "S":
            assert time.monotonic() < deadline, "the command never waited at its prompt"
            time.sleep(0.001)

    def interrupt(self) -> None:
        """Ctrl-C at the prompt on the terminal."""
        self.wait_reading()
        self.proc.send_signal(signal.SIGINT)

    def finish(self) -> tuple[int, bytes]:
        """Wait for the exit; the rest of the terminal output is in ``seen``."""
        stdout, _ = self.proc.communicate(timeout=60)
        while True:
            try:
                chunk = os.read(self.controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        os.close(self.controller)
        return self.proc.returncode, stdout

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        with contextlib.suppress(OSError):
            os.close(self.controller)


def test_secret_typed_at_the_hidden_prompt_is_never_echoed(served_fake: FakeYativo) -> None:
    key = served_fake.add_key()
    with Terminal(served_fake, "--api-key", key.api_key, "--api-secret", "-",
                  "token", "--json") as term:
        term.expect("API secret:")
        term.wait_reading()  # echo is off by then
        term.type(key.api_secret + "\n")
        code, stdout = term.finish()
    assert code == 0, term.seen
    assert json.loads(stdout)["expires_in"] == 3600
    assert key.api_secret.encode() not in term.seen + stdout


def test_ctrl_c_at_the_secret_prompt_exits_130(served_fake: FakeYativo) -> None:
    with Terminal(served_fake, "--api-key", "yvk_live_x", "--api-secret", "-", "token") as term:
        term.expect("API secret:")
        term.interrupt()
        code, stdout = term.finish()
    assert code == 130
    assert b"error: interrupted" in term.seen
    assert b"Traceback" not in term.seen
    assert routes(served_fake) == []


@pytest.mark.parametrize(("answer", "exit_code"), [("n\n", 8), (None, 130)],
                         ids=["no", "ctrl-c"])
def test_revoke_answered_no_or_interrupted_sends_nothing(served_fake: FakeYativo,
                                                         answer: str | None,
                                                         exit_code: int) -> None:
    key = served_fake.add_key()
    with Terminal(served_fake, "keys", "revoke", key.id) as term:
        term.expect(f"Revoke {key.id} permanently? [y/N]:")
        if answer is None:
            term.interrupt()
        else:
            term.wait_reading()
            term.type(answer)
        code, _ = term.finish()
    assert code == exit_code, term.seen
    assert b"Traceback" not in term.seen
    assert b"not revoked" in term.seen
    assert served_fake.keys[key.id].status == "active"
    assert routes(served_fake) == []


def test_ctrl_c_stops_fake_server_with_130_and_no_traceback() -> None:
    proc = subprocess.Popen(command("fake-server", "--port", "0", "--json"), cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        json.loads(proc.stdout.readline())  # serving
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert err == ""


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")


@needs_dev_full
@pytest.mark.parametrize("args", [
    ("keys", "create", "--name", "full", "--json"),
    ("keys", "create", "--name", "full", "--show-secret"),
    ("keys", "rotate", "KEY", "--json"),
])
def test_a_full_disk_on_stdout_names_the_key_whose_secret_was_not_delivered(
        served_fake: FakeYativo, args: tuple[str, ...]) -> None:
    key = served_fake.add_key("full")
    args = tuple(key.id if a == "KEY" else a for a in args)
    with open("/dev/full", "w") as full:
        result = run(served_fake, *args, stdout=full.fileno())
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()  # one line, no traceback
    assert "No space left on device" in line
    made = [k for k, v in served_fake.keys.items() if v.name == "full" and k != key.id]
    changed = made[0] if made else key.id
    assert f"keys rotate {changed}" in line  # which key to rotate or revoke
    assert served_fake.keys[changed].api_secret not in result.stderr  # stderr: no terminal


def test_show_secret_into_a_closed_pipe_says_which_key_lost_its_secret(
        served_fake: FakeYativo) -> None:
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = run(served_fake, "keys", "create", "--name", "gone", "--show-secret",
                     stdout=writer)
    finally:
        os.close(writer)
    key_id = the_key(served_fake, "gone")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()  # rich's own handler exited silently
    assert f"keys rotate {key_id}" in line


@needs_dev_full
@pytest.mark.parametrize(("args", "json_error"), [
    (("keys", "list"), False), (("keys", "list", "--json"), True),
    (("keys", "get", "KEY"), False), (("demo", "--calls", "20"), False),
])
def test_output_to_a_full_disk_is_one_line_not_a_traceback(
        served_fake: FakeYativo, args: tuple[str, ...], json_error: bool) -> None:
    key = served_fake.add_key()
    with open("/dev/full", "w") as full:
        result = run(served_fake, *(key.id if a == "KEY" else a for a in args),
                     stdout=full.fileno())
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    if json_error:
        assert json.loads(line)["error"] == "output"
    else:
        assert line == "error: cannot write the output: No space left on device"


def _run_closed(fake: FakeYativo, fd: int, *args: str) -> subprocess.CompletedProcess[str]:
    """The command with stdin (0) or stdout (1) closed, as ``<&-`` / ``>&-`` leave it."""
    return subprocess.run(command(*args), cwd=ROOT, env=environment(fake), text=True,
                          stdin=subprocess.DEVNULL if fd != 0 else None,
                          stdout=subprocess.PIPE if fd != 1 else None, stderr=subprocess.PIPE,
                          timeout=120, check=False, preexec_fn=lambda: os.close(fd))


@pytest.mark.parametrize(("fd", "args", "code", "says"), [
    (1, ("keys", "list"), 2, "stdout is closed"),
    (1, ("keys", "create", "--name", "x", "--json"), 2, "stdout is closed"),
    (0, ("keys", "revoke", "KEY"), 8, "not confirmed"),
    (0, ("--access-token", "-", "keys", "list"), 2, "stdin is closed"),
])
def test_a_closed_stdin_or_stdout_is_one_line_and_sends_nothing(
        served_fake: FakeYativo, fd: int, args: tuple[str, ...], code: int, says: str) -> None:
    key = served_fake.add_key()
    result = _run_closed(served_fake, fd, *(key.id if a == "KEY" else a for a in args))
    assert result.returncode == code, result.stderr
    (line,) = result.stderr.splitlines()
    assert says in line
    assert routes(served_fake) == []


@needs_dev_full
def test_fake_server_output_failure_is_not_called_a_port_problem() -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(command("fake-server", "--port", "0", "--stop-after", "0"),
                                cwd=ROOT, env=environment(FakeYativo()), text=True,
                                stdin=subprocess.DEVNULL, stdout=full.fileno(),
                                stderr=subprocess.PIPE, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr == "error: cannot write the output: No space left on device\n"


def test_sigterm_once_the_key_exists_waits_until_its_secret_is_delivered(
        served_fake: FakeYativo, tmp_path: Path) -> None:
    # SIGTERM arriving after the server made the key (here: just before delivery starts)
    # must not cut delivery short: the secret reaches its file, then the command ends 143.
    path = tmp_path / "secret"
    code = ("import os, signal, sys\n"
            "from yativo_async.cli import _app, main\n"
            "deliver = _app._deliver\n"
            "def late(*a, **k):\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return deliver(*a, **k)\n"
            "_app._deliver = late\n"
            "sys.argv = ['yativo', *sys.argv[1:]]\n"
            "main()\n")
    result = subprocess.run([sys.executable, "-c", code, "keys", "create", "--name", "late",
                             "--secret-file", str(path)], cwd=ROOT,
                            env=environment(served_fake), text=True, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=120, check=False)
    assert result.returncode == 143, result.stderr
    secret = served_fake.keys[the_key(served_fake, "late")].api_secret
    assert path.read_text() == secret + "\n"  # delivered whole, before the signal acted
    assert "Traceback" not in result.stderr


def test_a_name_the_output_encoding_cannot_show_loses_no_secret(
        served_fake: FakeYativo) -> None:
    # PYTHONIOENCODING=ascii: the name raised UnicodeEncodeError after the key was made (a
    # traceback, exit 1, the secret lost).
    def ascii_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command(*args), cwd=ROOT,
                              env=environment(served_fake, PYTHONIOENCODING="ascii"),
                              text=True, errors="replace", stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=120, check=False)

    result = ascii_run("keys", "create", "--name", "日本2", "--show-secret")
    assert result.returncode == 0, result.stderr
    key_id = the_key(served_fake, "日本2")
    assert served_fake.keys[key_id].api_secret in result.stdout
    for args in (("keys", "list"), ("keys", "get", key_id)):
        result = ascii_run(*args)
        assert (result.returncode, result.stderr) == (0, "")
        assert key_id in result.stdout


def test_no_command_shows_the_help_as_help(served_fake: FakeYativo) -> None:
    for args in ((), ("keys",)):
        result = run(served_fake, *args)
        assert result.returncode == 2
        lines = result.stderr.splitlines()
        assert lines[0].startswith("Usage:") and "Commands:" in lines


@pytest.mark.parametrize("json_output", [True, False])
def test_the_sdks_warnings_are_written_as_the_cli_writes(
        served_fake: HeldFake, monkeypatch: pytest.MonkeyPatch, json_output: bool) -> None:
    # A server's absurd Retry-After is capped with a warning: with --json that line was plain
    # text among the JSON objects on stderr.
    answer_at(served_fake, monkeypatch, "/apikey/list",
              429, {"Retry-After": "100000"}, b'{"message": "slow down"}')
    args = ("keys", "list", "--json") if json_output else ("keys", "list")
    result = run(served_fake, *args)
    assert result.returncode == 5
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    if json_output:
        warning, error = (json.loads(line) for line in lines)
        assert warning["log"] == "warning" and "Retry-After" in warning["message"]
        assert error["exit_code"] == 5
    else:
        assert lines[0].startswith("warning: ") and "Retry-After" in lines[0]
        assert lines[1].startswith("error: ")


def test_the_cli_run_in_a_program_leaves_its_logging_as_it_was(
        served_fake: FakeYativo) -> None:
    # The command's stderr log handler stayed on the SDK's logger after an in-process run:
    # the program's later SDK warnings came out twice (one as the run's JSON).
    code = ("import logging, sys\n"
            "from yativo_async.cli._app import cli\n"
            "log = logging.getLogger('yativo_async')\n"
            "for args in (['keys', 'list', '--json'], ['keys', 'list']):\n"
            "    cli.main(args, standalone_mode=False)\n"
            "    print('LOG', log.handlers, log.level)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment(served_fake),
                            text=True, stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("LOG")] == [
        "LOG [] 0", "LOG [] 0"]
