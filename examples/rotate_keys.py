"""A batch job: audit or rotate every active API key, resumable after Ctrl-C.

    python -m examples.rotate_keys audit
    python -m examples.rotate_keys rotate --secrets-out new-secrets.jsonl

- bounded concurrency (``--concurrency``) on one shared client, whose limiter keeps the whole
  job inside the key's rate limits (no 429s however many keys);
- a rich progress bar and a summary table at the end;
- a state file (JSON lines, one per finished key): run the same command again after Ctrl-C
  and it picks up where it stopped. On Ctrl-C no new key is started; the keys in flight
  finish and are recorded first, so a rotated key's new secret is never lost. A key that
  failed is not recorded, so the next run tries it again.
- rotated secrets go to ``--secrets-out`` (created mode 0600, one JSON line per key, written
  and synced *before* the key is marked done; if a key appears twice, the last line wins).
- bad arguments (``rotate`` without ``--secrets-out``, ``--concurrency 0``, a ``--state`` or
  ``--secrets-out`` that cannot be written, no credentials in the environment) are usage
  errors, exit status 2, before anything is sent: a new secret with nowhere to go would be
  lost with the old one already dead.
- a file that stops being writable during the run (a full disk) stops the job like Ctrl-C
  (no new key started, the keys in flight finished), then a one-line error, exit status 1.
  A new secret received is in ``--secrets-out`` or, when that is what failed, shown on the
  terminal (never in a log); either way its key is not marked done, and the next run
  rotates it again.

Exit status: 0 done; 1 some keys failed (retried next run) or a file could not be written;
2 usage error; 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import yativo_async as y

Action = Literal["audit", "rotate"]

#: audit: a key expiring within this is a finding
EXPIRY_WARNING = timedelta(days=30)
#: audit: a key not used for this long (or never) is a finding
UNUSED_FOR = timedelta(days=90)


@dataclass
class Summary:
    """What one run did. ``interrupted`` is true when Ctrl-C stopped it early."""

    action: str
    total: int = 0
    already_done: int = 0
    done: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    findings: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, issue)
    interrupted: bool = False
    #: why the job stopped early: a file it writes could not be written (None: it did not)
    stopped: str | None = None
    max_in_flight: int = 0

    @property
    def remaining(self) -> int:
        return self.total - self.already_done - self.done


class JobStopped(Exception):
    """A file the job writes (``--state``, ``--secrets-out``) could not be written, so it
    stopped: no new key was started, the keys in flight were finished. The message is one
    line; the summary (printed) lists each key concerned and what became of its secret."""


class _KeyFailed(Exception):
    """A key failed in a way `run_job` words itself (the message is the summary's); ``stop``:
    because a file could not be written, so the job stops."""

    def __init__(self, message: str, *, stop: str | None = None) -> None:
        super().__init__(message)
        self.stop = stop


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _append_line(path: Path, line: str, mode: int) -> None:
    """Append one line to ``path`` (created with ``mode``) and sync it. A line an earlier
    failure cut short (a full disk) is ended first, so this one is not glued to it."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
    try:
        if os.fstat(fd).st_size:
            os.lseek(fd, -1, os.SEEK_END)
            if os.read(fd, 1) != b"\n":
                line = "\n" + line
        data = (line + "\n").encode()
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)


class StateFile:
    """Append-only JSON lines: one line per key finished. Lines cut short by a crash are
    ignored (that key is simply done again)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def done_ids(self, action: str) -> set[str]:
        done: set[str] = set()
        if not self.path.exists():
            return done
        for line in self.path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("action") == action:
                done.add(str(entry.get("id")))
        return done

    def record(self, action: str, key_id: str, result: str) -> None:
        """Raises: OSError: the line could not be written."""
        _append_line(self.path, json.dumps({"action": action, "id": key_id, "result": result}),
                     0o666)


def _save_secret(path: Path, key_id: str, api_key: str | None, secret: y.Secret) -> None:
    """Raises: OSError: the line could not be written."""
    # 0600 at creation: the file holds live secrets.
    _append_line(path, json.dumps({"id": key_id, "api_key": api_key,
                                   "api_secret": secret.get_secret_value()}), 0o600)


def audit_findings(key: y.ApiKey, now: datetime) -> list[str]:
    """What an operator should look at for this key."""
    issues = []
    if key.expires_at is not None and key.expires_at - now < EXPIRY_WARNING:
        issues.append(f"expires {key.expires_at:%Y-%m-%d}")
    if key.last_used_at is None:
        issues.append("never used")
    elif now - key.last_used_at > UNUSED_FOR:
        issues.append(f"unused since {key.last_used_at:%Y-%m-%d}")
    return issues


async def run_job(
    client: y.YativoClient,
    *,
    action: Action,
    state_path: Path,
    secrets_path: Path | None = None,
    concurrency: int = 8,
    console: Console | None = None,
    on_key_done: Callable[[Summary], None] | None = None,
) -> Summary:
    """Audit or rotate every active key not yet in the state file.

    Raises:
        ValueError: ``rotate`` without ``secrets_path``, or ``concurrency < 1``.
        asyncio.CancelledError: after Ctrl-C (or a cancel), once the keys in flight are
            finished and recorded; the summary so far has been printed.
        JobStopped: ``state_path`` or ``secrets_path`` could not be written; no key was
            started after that, the keys in flight were finished; the summary so far has
            been printed.
    """
    if action == "rotate" and secrets_path is None:
        raise ValueError("rotate needs secrets_path: the new secrets are shown only once")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    console = console or Console(stderr=True)
    state = StateFile(state_path)
    summary = Summary(action=action)

    keys = [k for k in await client.api_keys.list() if k.is_active]
    done = state.done_ids(action)
    todo = [k for k in keys if k.id not in done]
    summary.total, summary.already_done = len(keys), len(keys) - len(todo)
    now = datetime.now(timezone.utc)

    unsaved = 0  # new secrets that could not be written to secrets_path

    def save_secret(key_id: str, api_key: str | None, secret: y.Secret) -> None:
        """Into ``secrets_path`` (before "done": never lose a secret), or, if that cannot be
        written, shown on the terminal; never in a log (a console that is no terminal)."""
        assert secrets_path is not None
        try:
            _save_secret(secrets_path, key_id, api_key, secret)
        except OSError as exc:
            why = f"--secrets-out {secrets_path}: {_why(exc)}"
            where = "NOT saved"
            if console.is_terminal:
                console.print(f"new API secret of key {key_id} (could not be saved): "
                              f"{secret.get_secret_value()}", markup=False, highlight=False)
                where = "shown above, not saved"
            nonlocal unsaved
            unsaved += 1
            raise _KeyFailed(f"rotated, but its new secret could not be written ({why}); "
                             f"it is {where}; the next run rotates the key again",
                             stop=why) from None

    async def rotate(key: y.ApiKey) -> str:
        try:
            rotated = await client.api_keys.rotate(key.id, adopt=False)
        except y.ResponseDecodeError as exc:
            if exc.api_secret is None:
                raise
            # Rotated, though the answer did not decode: the error holds the only copy of
            # the new secret. Kept; the key is not marked done, so the next run rotates again.
            save_secret(exc.key_id or key.id, exc.api_key, exc.api_secret)
            raise _KeyFailed(f"ResponseDecodeError: {exc.message}; its new secret was saved "
                             f"to {secrets_path}") from None
        save_secret(rotated.id or key.id, rotated.api_key, rotated.api_secret)
        return "rotated"

    async def audit(key: y.ApiKey) -> str:
        issues = audit_findings(await client.api_keys.get(key.id), now)
        summary.findings.extend((key.id, key.name, issue) for issue in issues)
        return "; ".join(issues) or "ok"

    def stop(why: str) -> None:
        if summary.stopped is None:  # the first failure is the one to fix
            summary.stopped = why

    async def process(key: y.ApiKey) -> None:
        try:
            result = await (rotate(key) if action == "rotate" else audit(key))
        except _KeyFailed as exc:
            summary.failed[key.id] = str(exc)
            if exc.stop is not None:
                stop(exc.stop)
            return
        except Exception as exc:
            # Not recorded: the next run tries this key again. That is right even for
            # OutcomeUnknownError on a rotation: rotating again yields a secret we keep.
            # Anything else is listed too, rather than lost in a task nobody awaits.
            summary.failed[key.id] = f"{type(exc).__name__}: {exc}"
            return
        try:
            state.record(action, key.id, result)
        except OSError as exc:
            # Done but not recorded, so done again next run; a new secret is already saved.
            why = f"--state {state_path}: {_why(exc)}"
            saved = f", its new secret saved to {secrets_path}" if action == "rotate" else ""
            summary.failed[key.id] = (f"{result}{saved}, but not recorded ({why}); the next "
                                      "run does it again")
            stop(why)
            return
        summary.done += 1
        if on_key_done is not None:
            on_key_done(summary)

    in_flight: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(concurrency)
    with Progress(
        TextColumn(f"[bold]{action}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, auto_refresh=console.is_terminal, transient=False,
    ) as progress:
        bar = progress.add_task(action, total=summary.total, completed=summary.already_done)

        def finished(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            slots.release()
            progress.update(bar, completed=summary.already_done + summary.done)

        try:
            for key in todo:
                await slots.acquire()
                if summary.stopped is not None:
                    break  # a file could not be written: start no new key
                # Each key is its own task, not cancelled by Ctrl-C: a rotation already sent
                # must finish and be recorded, or its new secret would be lost.
                task = asyncio.create_task(process(key))
                in_flight.add(task)
                task.add_done_callback(finished)
                summary.max_in_flight = max(summary.max_in_flight, len(in_flight))
            while in_flight:
                await asyncio.wait(set(in_flight))
        except asyncio.CancelledError:
            summary.interrupted = True
            if in_flight:
                await asyncio.wait(set(in_flight))
            print_summary(summary, console)
            raise
    print_summary(summary, console)
    if summary.stopped is not None:
        lost = (f"; {unsaved} new secret(s) could not be saved (keys listed above, rotated "
                "again next run)" if unsaved else "")
        raise JobStopped(f"{summary.stopped}: stopped, no key started after that{lost}; "
                         "run the same command again once it can be written")
    return summary


def print_summary(summary: Summary, console: Console) -> None:
    how = ("interrupted" if summary.interrupted
           else "stopped" if summary.stopped is not None else "done")
    table = Table(title=f"{summary.action}: {how}")
    table.add_column("keys", justify="right")
    table.add_column("count", justify="right")
    table.add_row("active", str(summary.total))
    table.add_row("done before this run", str(summary.already_done))
    table.add_row("done in this run", str(summary.done))
    table.add_row("failed (retried next run)", str(len(summary.failed)))
    table.add_row("left", str(summary.remaining))
    console.print(table)
    for key_id, name, issue in summary.findings:
        console.print(f"  {escape(key_id)} ({escape(name)}): {escape(issue)}")
    for key_id, error in summary.failed.items():
        console.print(f"  [red]{escape(key_id)}[/red]: {escape(error)}")
    if summary.interrupted:
        if summary.stopped is not None:  # else JobStopped says it, as the last line
            console.print(f"[red]Could not write[/red] {escape(summary.stopped)}")
        console.print("Interrupted: run the same command again to finish.")


def positive_int(text: str) -> int:
    """``--concurrency``: an int >= 1 (argparse turns the error into a usage message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def check_file(parser: argparse.ArgumentParser, option: str, path: Path, flags: int,
               mode: int) -> None:
    """Open (creating) ``path`` as the job will, so that a path the job could not use is a
    usage error now, not a failure after keys were rotated: a secret that cannot be
    written is lost with the old one already dead."""
    try:
        os.close(os.open(path, flags | os.O_APPEND | os.O_CREAT, mode))
    except OSError as exc:
        parser.error(f"{option} {path}: {exc.strerror or exc}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("action", choices=["audit", "rotate"])
    parser.add_argument("--state", type=Path, default=Path("rotate-keys.state.jsonl"))
    parser.add_argument("--secrets-out", type=Path, default=None,
                        help="where rotate writes the new secrets (required by rotate)")
    parser.add_argument("--concurrency", type=positive_int, default=8)
    args = parser.parse_args(argv)
    # What run_job would raise ValueError for, files it could not use, no credentials:
    # usage errors (exit 2, one line), before anything is sent.
    if args.action == "rotate":
        if args.secrets_out is None:
            parser.error("rotate needs --secrets-out: the new secrets are shown only once")
        check_file(parser, "--secrets-out", args.secrets_out, os.O_RDWR, 0o600)
    check_file(parser, "--state", args.state, os.O_RDWR, 0o666)
    try:
        client = y.YativoClient.from_env()  # nothing sent yet: the token comes at first use
    except ValueError as exc:  # no credentials, or a malformed setting (named, no secret)
        parser.error(str(exc))
    # Ctrl-C cancels the job (which then finishes what is in flight) on every Python: on
    # 3.10 asyncio.run would raise KeyboardInterrupt in the middle of the loop instead.
    job = asyncio.current_task()
    assert job is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, job.cancel)
    async with client:
        try:
            summary = await run_job(client, action=args.action, state_path=args.state,
                                    secrets_path=args.secrets_out, concurrency=args.concurrency)
        except asyncio.CancelledError:
            return 130
        except JobStopped as exc:
            print(f"{parser.prog}: error: {exc}", file=sys.stderr)
            return 1
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
