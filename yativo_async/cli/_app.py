"""``yativo``: operators manage keys from a terminal; ``yativo demo`` shows the SDK at work.

Rules of this module:

1. A new key's secret is never lost: where it goes is decided before anything is sent, and
   with nowhere to go the command refuses up front (``_secret_out.py``).
2. Secrets (the API secret, tokens, 2FA codes) are never printed unless asked, and never in
   an error: values the command was given are masked in every message.
3. An error is one line on stderr (``error: Kind: message``, or one JSON object with
   ``--json``), whatever its length, so logs and ``grep`` see it whole. On a terminal, a
   click usage error keeps click's usage block.
4. The ``YATIVO_*`` environment variables are the safe way to pass credentials (flags show
   in ``ps`` and land in shell history); ``--api-secret -`` and ``--access-token -`` read
   the value from stdin, with a hidden prompt when stdin is a terminal.
5. The client is used only through the package's public API.
6. Ctrl-C anywhere (a request in flight, a prompt, stdin being read) exits 130 with one line
   and no traceback; a request it may have cut short says what to check. SIGTERM does the
   same (an empty secret file removed) and exits 143.
7. On a pipe, output is whole: tables are as wide as their content (a row stays a line).

Exit codes (``EXIT_CODES``, also in ``yativo --help``):

- 0: ok
- 1: unexpected error (--debug shows the traceback), or stdout closed early or not writable
- 2: usage: bad arguments, no credentials, or nowhere to show a new secret; nothing sent
- 3: API error: the server refused, or answered with a body not as documented
- 4: authentication or permission (a wrong 2FA code included)
- 5: rate limited
- 6: connection error or timeout
- 7: outcome unknown: a create, generate or rotate may or may not have happened
- 8: not confirmed: keys revoke answered no (or stdin ended); nothing sent
- 130: interrupted (Ctrl-C, also at a prompt; how fake-server stops)
- 143: terminated (SIGTERM), cleaned up as after Ctrl-C
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Final, NoReturn, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import (
    COARSE_PERMISSIONS,
    DEFAULT_RATE_LIMITS,
    SCOPED_PERMISSIONS,
    APIConnectionError,
    ApiKey,
    APIStatusError,
    AuthenticationError,
    CreatedApiKey,
    CustomPermission,
    Observer,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RequestEvent,
    ResponseDecodeError,
    ResponseEvent,
    RetryEvent,
    RotatedApiKey,
    TokenUnavailableError,
    YativoClient,
    YativoError,
    __version__,
    to_jsonable,
)
from .._logging import _LEVELS as LOG_LEVELS
from .._logging import ENV_VAR as LOG_ENV_VAR
from .._logging import LOGGER_NAME
from .._transport import MASK_MIN
from ._secret_out import NoPlaceForSecret, SecretFile, SecretFileError, SecretPlan, plan

T = TypeVar("T")
M = TypeVar("M", CreatedApiKey, RotatedApiKey)

EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_API, EXIT_AUTH, EXIT_RATE, EXIT_CONN = range(7)
EXIT_UNKNOWN, EXIT_NOT_CONFIRMED, EXIT_INTERRUPTED, EXIT_TERMINATED = 7, 8, 130, 143

EXIT_CODES: Final = (
    (EXIT_OK, "ok"),
    (EXIT_UNEXPECTED, "unexpected error (--debug shows the traceback), or stdout closed early "
                      "or not writable"),
    (EXIT_USAGE, "usage: bad arguments, no credentials, or nowhere to show a new secret; "
                 "nothing sent"),
    (EXIT_API, "API error: the server refused, or answered with a body not as documented"),
    (EXIT_AUTH, "authentication or permission (a wrong 2FA code included)"),
    (EXIT_RATE, "rate limited"),
    (EXIT_CONN, "connection error or timeout"),
    (EXIT_UNKNOWN, "outcome unknown: a create, generate or rotate may or may not have happened"),
    (EXIT_NOT_CONFIRMED, "not confirmed: keys revoke answered no (or stdin ended); nothing sent"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C, also at a prompt; how fake-server stops)"),
    (EXIT_TERMINATED, "terminated (SIGTERM), cleaned up as after Ctrl-C"),
)

# ``"error"`` of a JSON error that is not an exception of the client.
_JSON_KINDS: Final = {EXIT_UNEXPECTED: "error", EXIT_NOT_CONFIRMED: "not_confirmed",
                      EXIT_INTERRUPTED: "interrupted", EXIT_TERMINATED: "terminated"}

# The first matching row gives the exit code of an error raised by the client.
_ERROR_EXITS: Final[Sequence[tuple[type[BaseException] | tuple[type[BaseException], ...], int]]] = (
    (OutcomeUnknownError, EXIT_UNKNOWN),
    (RateLimitError, EXIT_RATE),
    ((AuthenticationError, PermissionDeniedError, TokenUnavailableError), EXIT_AUTH),
    (APIConnectionError, EXIT_CONN),
    ((APIStatusError, ResponseDecodeError), EXIT_API),
    ((ValueError, TypeError), EXIT_USAGE),  # the client checks arguments before sending
)

_EPILOG = "\n".join(
    [
        "\b",
        "Credentials: the environment is the safe way. Flags show in ps and in shell history;",
        "--api-secret - and --access-token - read the value from stdin instead.",
        "  YATIVO_API_KEY, YATIVO_API_SECRET   a key pair (tokens exchanged for you)",
        "  YATIVO_ACCESS_TOKEN                 or a user's bearer token",
        "  YATIVO_TOTP_SECRET                  2FA codes made for you (else --2fa or a prompt)",
        "  YATIVO_BASE_URL                     the API root",
        "",
        "\b",
        "Exit codes:",
        *(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES),
    ]
)


_PIPE_WIDTH: Final = 100_000


def _isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal; a closed one (``<&-`` makes it ``None``) is not."""
    try:
        return stream is not None and bool(stream.isatty())
    except (ValueError, OSError):
        return False


def _interactive() -> bool:
    """A person is at the terminal (so a code or a secret may be asked for)."""
    return _isatty(sys.stdin)


def _stdout_tty() -> bool:
    return _isatty(sys.stdout)


def _stderr_tty() -> bool:
    return _isatty(sys.stderr)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is (an empty secret file removed, one line) but exiting
    143."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated


def _stopped(exc: BaseException) -> tuple[str, int]:
    """The word and the exit code for an interruption."""
    if isinstance(exc, _Terminated) or isinstance(exc.__context__, _Terminated):
        return "terminated", EXIT_TERMINATED
    return "interrupted", EXIT_INTERRUPTED


class _Console(Console):
    """rich's console, but a closed pipe is an error the command sees: rich's own handler
    exits at once (``SystemExit(1)``), before a command holding a new key's secret could
    say so (`_deliver`)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


#: the operations whose answer holds a new key's only secret
_MAKING: Final = frozenset({"create", "generate", "rotate"})

_HOLDING: Final = ("the server is acting on the request; waiting for its answer, which holds "
                   "the new key's only secret (at most the request's timeout; nothing is sent "
                   "again). Press Ctrl-C again to stop anyway")


class _Hold:
    """`Ctx.call`'s ``makes_secret``: the secret-making requests on their way, and a signal
    deferred until the answer to one comes (see `_awaitable`)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        #: requests that make a secret (create, generate, rotate) now on their way
        self.making = 0
        #: the signal that came while one was on its way (``None``: none)
        self.deferred: int | None = None
        #: stops the command now (set by `_awaitable`)
        self.stop: Callable[[], None] | None = None


class _Notices(Observer):
    """Says on stderr when the client waits before a retry (a server's 429 can mean a
    minute of silence otherwise); counts the secret-making requests on their way."""

    def __init__(self, *, json_output: bool = False) -> None:
        self._json = json_output
        self.hold: _Hold | None = None

    def request(self, event: RequestEvent) -> None:
        if self.hold is not None and event.operation in _MAKING:
            self.hold.making += 1

    def response(self, event: ResponseEvent) -> None:
        hold = self.hold
        if hold is None or event.operation not in _MAKING:
            return
        hold.making -= 1
        if hold.deferred is not None and hold.stop is not None and (
                event.status is None or not 200 <= event.status < 300):
            # The answer a signal waited for came, and it is no key (a 429 or 503 to be
            # retried, a 401 to be replayed, a failure): stop now, before anything is sent
            # again (the client's next step awaits a wait, a token or a slot).
            hold.stop()

    def say(self, text: str) -> None:
        """One note on stderr (a JSON object with ``--json``)."""
        if self._json:  # every stderr line of --json is one JSON object
            click.echo(json.dumps({"note": text}), err=True)
        else:
            click.echo(f"note: {text}", err=True)

    def retry(self, event: RetryEvent) -> None:
        if event.wait < 1.0:
            return
        status = f" (HTTP {event.status})" if event.status is not None else ""
        text = _one_line(
            f"{event.operation} got {event.error}{status}; retrying in {event.wait:.0f} s")
        if self._json:  # every stderr line of --json is one JSON object
            click.echo(json.dumps({"note": text, "retry_in": round(event.wait, 3)}), err=True)
        else:
            click.echo(f"note: {text}", err=True)


def _one_line(text: str) -> str:
    return _visible(" ".join(text.split()))


#: characters a terminal acts on rather than shows: C0 and C1 controls (ESC starts colour,
#: cursor and window-title sequences), DEL, and the invisible direction overrides
_UNSHOWABLE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(text: str) -> str:
    """``text`` with every character a terminal would act on written as its escape (``\\x1b``,
    ``\\n``): a key name, an id or a server's message cannot move the cursor, retitle the
    window, or make one row look like two."""
    return _UNSHOWABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _cell(value: str) -> Text:
    """A table cell shown as it is: never read as rich markup (a name ``[/red]`` is text)."""
    return Text(_visible(value))


def _table(title: str, columns: Sequence[str], *, show_header: bool = True) -> Table:
    """A table that never cuts a value: a long one folds onto the next line (an API key
    shown once must be shown whole, whatever the terminal's width)."""
    table = Table(title=title, show_header=show_header)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


class _StderrLog(logging.Handler):
    """The SDK's log records (warnings, or the level ``YATIVO_LOG`` names) on stderr as the
    CLI writes everything there: ``warning: ...`` on one line, or one JSON object per line
    with ``--json``. Written through click at each record, so the stderr of the moment is
    used (a test runner's, after a redirect)."""

    def __init__(self, json_output: Callable[[], bool]) -> None:
        super().__init__()
        self.json_output = json_output  # (read at each record: --json may come after it)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = _one_line(record.getMessage())
            level = record.levelname.lower()
            if self.json_output():
                click.echo(json.dumps({"log": level, "message": text}), err=True)
            else:
                click.echo(f"{level}: {text}", err=True)
        except Exception:  # a log line must never end the command
            self.handleError(record)


#: the handler `_log_to_stderr` added and the logger's level before it (``None``: none)
_logged: tuple[_StderrLog, int] | None = None


def _log_to_stderr(json_output: Callable[[], bool]) -> None:
    """Send the SDK's log to stderr through `_StderrLog` for this run (`_unlog` ends it),
    unless the application that runs the CLI configured logging itself. A ``YATIVO_LOG``
    that is no level is left for the client to refuse (exit 2)."""
    global _logged
    _unlog()
    logger = logging.getLogger(LOGGER_NAME)
    if logger.handlers or logging.getLogger().handlers:
        return
    value = os.environ.get(LOG_ENV_VAR, "").strip().lower() or "warning"
    level = LOG_LEVELS.get(value)
    if level is None:
        return
    handler = _StderrLog(json_output)
    _logged = (handler, logger.level)
    logger.addHandler(handler)
    logger.setLevel(level)


def _unlog() -> None:
    """Undo `_log_to_stderr`: the logger as it was (a program that runs the command in its
    own process keeps its logging)."""
    global _logged
    if _logged is not None:
        handler, level = _logged
        _logged = None
        logger = logging.getLogger(LOGGER_NAME)
        logger.removeHandler(handler)
        logger.setLevel(level)


class Ctx:
    """Options of the ``yativo`` group, and the things every command does with them."""

    def __init__(self, *, base_url: str | None, api_key: str | None, api_secret: str | None,
                 access_token: str | None, json_output: bool, debug: bool) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.api_secret = api_secret
        self.access_token = access_token
        self.json = json_output
        self.debug = debug
        # On a pipe (| grep, | tee log) a table is as wide as its content: rich would
        # otherwise wrap and cut cells at 80 columns, and a row would no longer be a line.
        self.out = _Console(highlight=False, soft_wrap=True,
                           width=None if _stdout_tty() else _PIPE_WIDTH)
        self._given_secrets: list[str] = []  # masked in every message (rule 2)
        _log_to_stderr(lambda: self.json)

    # -- inputs, all resolved before anything is sent ------------------------------------

    def _remember(self, value: str) -> str:
        # A 2FA code has 6 digits; a shorter value is no secret worth the damage of
        # masking it (a token "x" would turn every "x" of a message into "***").
        if len(value) >= MASK_MIN:
            self._given_secrets.append(value)
        return value

    def client_settings(self) -> dict[str, Any]:
        """Keyword arguments for ``YativoClient.from_env`` (rule 4)."""
        if self.api_secret == "-" and self.access_token == "-":
            self.fail("only one of --api-secret and --access-token can read stdin", EXIT_USAGE)
        settings: dict[str, Any] = {}
        if self.base_url is not None:
            if not self.base_url.strip():  # never the production default by accident
                self.fail("--base-url (or YATIVO_BASE_URL) is empty: give the API's URL, or "
                          "leave it unset for the production API; nothing was sent",
                          EXIT_USAGE)
            settings["base_url"] = self.base_url
        secret = self.api_secret
        if secret == "-" or (self.api_key and not secret and _interactive()):
            secret = _read_secret("API secret")
        if self.api_key and not (secret or "").strip():
            self.fail("an API key is given (--api-key or YATIVO_API_KEY) but no API secret: "
                      "set YATIVO_API_SECRET, or pass --api-secret - to type it; nothing was "
                      "sent", EXIT_USAGE)
        if secret and not (self.api_key or "").strip():
            self.fail("an API secret is given but no API key: set YATIVO_API_KEY (or "
                      "--api-key); nothing was sent", EXIT_USAGE)
        if self.api_key or secret:
            settings["api_key"] = self.api_key
            settings["api_secret"] = self._remember(secret or "")
        elif self.access_token:
            token = self.access_token
            if token == "-":
                token = _read_secret("access token")
            settings["access_token"] = self._remember(token)
        if not any(settings.get(k) for k in ("api_key", "api_secret", "access_token")):
            self.fail("no credentials: set YATIVO_ACCESS_TOKEN, or YATIVO_API_KEY and "
                      "YATIVO_API_SECRET (see yativo --help)", EXIT_USAGE)
        return settings

    def two_factor_code(self, given: str | None, command: str, *, required: bool) -> str | None:
        """The code to send: ``--2fa``, else None where the client makes one from
        ``YATIVO_TOTP_SECRET``, else a hidden prompt on a terminal, else refuse."""
        if given:
            return self._remember(given)
        if not required or os.environ.get("YATIVO_TOTP_SECRET"):
            return None
        if _interactive():
            return self._remember(str(click.prompt("2FA code", hide_input=True, err=True)))
        self.fail(f"{command} needs a 2FA code: --2fa CODE, or YATIVO_TOTP_SECRET, or run it "
                  "at a terminal to be asked; nothing was sent", EXIT_USAGE)

    # -- running ---------------------------------------------------------------------------

    def call(self, operation: Callable[[YativoClient], Awaitable[T]], *,
             interrupted: str | None = None, makes_secret: bool = False) -> T:
        """Run one operation with a client built from the options; map errors to exit codes.

        ``makes_secret``: a create, generate or rotate. A first Ctrl-C or SIGTERM while its
        request is on its way waits for the answer (the server acts either way, and the
        answer holds the only copy of the secret), then stops once the secret is delivered;
        a second one stops at once. Before the request is sent, one stops at once."""
        settings = self.client_settings()

        notices = _Notices(json_output=self.json)
        if makes_secret:
            notices.hold = _Hold(notices.say)

        async def go() -> T:
            async with YativoClient.from_env(**settings, hooks=notices) as client:
                return await operation(client)

        return self.run(go, interrupted=interrupted, hold=notices.hold)

    def run(self, make: Callable[[], Awaitable[T]], *, interrupted: str | None = None,
            hold: _Hold | None = None) -> T:
        try:
            return asyncio.run(_awaitable(make, hold))
        except KeyboardInterrupt as exc:
            word, code = _stopped(exc)
            self.fail(word + (f": {interrupted}" if interrupted else ""), code)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # stdout closed (| head): click's handler exits quietly
            self.fail_with(exc)
        except Exception as exc:
            self.fail_with(exc)

    def fail_with(self, exc: BaseException) -> NoReturn:
        code = next((code for kinds, code in _ERROR_EXITS if isinstance(exc, kinds)),
                    EXIT_UNEXPECTED)
        if self.debug:
            click.echo(self._mask(traceback.format_exc()), err=True, nl=False)
        message = str(exc)
        if isinstance(exc, OutcomeUnknownError):  # the library's advice, in the CLI's words
            message = message.replace("api_keys.list()", "yativo keys list")
        self.fail(message, code, kind=exc.__class__.__name__)

    def fail(self, message: str, code: int, *, kind: str | None = None) -> NoReturn:
        """Rule 3: one line on stderr, then exit with ``code``."""
        text = _one_line(self._mask(message))
        if self.json:
            click.echo(json.dumps({"error": kind or _JSON_KINDS.get(code, "usage"),
                                   "message": text, "exit_code": code}), err=True)
        else:
            click.echo(f"error: {kind}: {text}" if kind else f"error: {text}", err=True)
        raise SystemExit(code)

    def _mask(self, text: str) -> str:
        for value in self._given_secrets:
            text = text.replace(value, "***")
        return text

    # -- output ----------------------------------------------------------------------------

    def emit(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, sort_keys=True))


def _read_secret(what: str) -> str:
    """A value from stdin: a hidden prompt on a terminal, else the first line (so the
    first line of ``pass show`` works, and the rest of stdin is left alone)."""
    if _interactive():
        value = str(click.prompt(what[:1].upper() + what[1:], hide_input=True, err=True))
    elif sys.stdin is None:
        raise click.UsageError(f"no {what} on stdin: stdin is closed")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value.strip():
        raise click.UsageError(f"no {what} on stdin")
    return value


async def _awaitable(make: Callable[[], Awaitable[T]], hold: _Hold | None = None) -> T:
    """Run ``make()``; a signal that stops the command cancels it cleanly (its ``finally``
    blocks and the client's ``aclose`` run) and then raises here as `KeyboardInterrupt`
    (`_Terminated` for SIGTERM), outside any task. With ``hold``, a first signal that comes
    while a secret-making request is on its way is deferred (see `Ctx.call`); while the
    signals are held for a secret's delivery (`_Held.hold`), one waits for that."""
    import signal

    handled = []
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # installed by YativoGroup.main
        handled.append(signal.SIGTERM)
    sigint = signal.getsignal(signal.SIGINT)
    if (sys.version_info < (3, 11) and sigint is signal.default_int_handler) or (
            hold is not None and callable(sigint)):
        # Python 3.10's asyncio.run lets Ctrl-C raise KeyboardInterrupt inside whatever task
        # is running (then "Task exception was never retrieved" on stderr); 3.11 cancels
        # the main task and raises KeyboardInterrupt from asyncio.run. Do as 3.11 does (and
        # on 3.11 too where a Ctrl-C may have to wait). A command started with Ctrl-C
        # ignored (nohup, ``cmd &``) leaves it so.
        handled.append(signal.SIGINT)
    loop, main = asyncio.get_running_loop(), asyncio.current_task()
    caught: list[int] = []

    def stop(signum: int) -> None:
        caught.append(signum)
        if main is not None:
            main.cancel()

    def on_signal(signum: int) -> None:
        if _held.active:  # the secret is on its way to the user: after that
            _held.defer(signum)
            return
        if hold is not None and hold.deferred is None and hold.making > 0:
            hold.deferred = signum
            hold.stop = lambda: stop(signum)
            hold.say(_HOLDING)
            return
        stop(signum)

    installed: dict[int, Any] = {}
    for signum in handled:
        previous = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (ValueError, NotImplementedError, RuntimeError):  # not the main thread; Windows
            continue
        installed[signum] = previous
    try:
        result = await make()
    except asyncio.CancelledError:
        if caught:
            raise (_Terminated() if caught[0] == signal.SIGTERM else KeyboardInterrupt()) from None
        raise
    finally:
        for sig, previous in installed.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous)  # (the loop put back the default)
            _held.rehold(sig)  # still held for the delivery to come: ours again
    if hold is not None and hold.deferred is not None:
        # The answer came, and the signals are held until its secret is delivered: the
        # deferred one acts then (the command stops as asked, the secret shown or saved).
        _held.defer(hold.deferred)
    return result


pass_ctx = click.make_pass_decorator(Ctx)


def _set_flag(name: str) -> Callable[[click.Context, click.Parameter, bool], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            setattr(ctx.find_object(Ctx), name, True)

    return callback


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` and ``--debug`` work after the subcommand too (``yativo demo --json``)."""
    f = click.option("--json", "json_flag", is_flag=True, expose_value=False,
                     callback=_set_flag("json"), help="Machine-readable JSON output.")(f)
    return click.option("--debug", "debug_flag", is_flag=True, expose_value=False,
                        callback=_set_flag("debug"), help="Show tracebacks.")(f)


def two_factor_option(*, required: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--2fa``, only on the commands that send a 2FA code."""
    help_text = ("2FA code (else YATIVO_TOTP_SECRET, or a hidden prompt on a terminal)."
                 if required else "2FA code, sent if given (the server does not require one).")
    return click.option("--2fa", "two_factor", metavar="CODE", help=help_text)


def secret_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Where the new secret goes (``_secret_out.py``)."""
    f = click.option(
        "--secret-file", type=click.Path(dir_okay=False), metavar="PATH",
        help="Write the secret to PATH, a new file (mode 0600; an existing file is never "
             "overwritten). Checked before anything is sent.",
    )(f)
    return click.option(
        "--show-secret", is_flag=True, envvar="YATIVO_SHOW_SECRET",
        help="Print the secret on stdout even when it is not a terminal (a pipe, a log).",
    )(f)


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C, seen directly or through click's ``Abort`` at a prompt (which hides it)."""
    return isinstance(exc, KeyboardInterrupt) or (
        isinstance(exc, click.Abort) and isinstance(exc.__context__, KeyboardInterrupt))


#: click (>= 8.2) raises this for a group run with no command: its message is the help
_NO_ARGS_IS_HELP: Final = getattr(click.exceptions, "NoArgsIsHelpError", ())


class YativoGroup(click.Group):
    """Rule 3 for click's own errors too; rule 6 for Ctrl-C wherever it lands."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, click.Abort) as exc:
            # Here, not in main(): click's main() would print a blank line first.
            if not _interrupted(exc):
                raise  # end of input at a prompt: main() reports it
            word, code = _stopped(exc)
            c = ctx.find_object(Ctx)
            if c is None:
                click.echo(f"error: {word}", err=True)
                raise SystemExit(code) from None
            c.fail(word, code)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            try:
                return super().main(args, prog_name, complete_var, False, **extra)
            finally:
                _unlog()
        argv = list(args) if args is not None else sys.argv[1:]
        want_json = "--json" in argv[:argv.index("--")] if "--" in argv else "--json" in argv
        import signal
        import threading

        # SIGTERM (a CI timeout, systemd, kill) ends the command as Ctrl-C does: an empty
        # secret file removed, one line, exit 143. Only where nobody else chose a handler.
        sigterm = (threading.current_thread() is threading.main_thread()
                   and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
        if sigterm:
            signal.signal(signal.SIGTERM, _on_sigterm)
        # A name the terminal's encoding cannot show (PYTHONIOENCODING=ascii, a C locale)
        # is written as an escape, never a UnicodeEncodeError after a key was made.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            if isinstance(exc, _NO_ARGS_IS_HELP) and not want_json:
                click.echo(exc.format_message(), err=True)  # the help, as help looks
                sys.exit(exc.exit_code)
            if want_json:
                kind = "usage" if isinstance(exc, click.UsageError) else "error"
                click.echo(json.dumps({"error": kind,
                                       "message": _one_line(exc.format_message()),
                                       "exit_code": exc.exit_code}), err=True)
            elif _stderr_tty():
                exc.show()
            else:
                where = ""
                if isinstance(exc, click.UsageError) and exc.ctx is not None:
                    where = f" (see: {exc.ctx.command_path} --help)"
                click.echo(f"error: {_one_line(exc.format_message())}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort as exc:
            word, code = _stopped(exc)
            click.echo(f"error: {word}", err=True)
            sys.exit(code)
        except KeyboardInterrupt as exc:  # SIGTERM before a command ran, or after
            word, code = _stopped(exc)
            click.echo(f"error: {word}", err=True)
            sys.exit(code)
        except OSError as exc:
            # The output could not be written (a full disk, an I/O error; a closed pipe is
            # click's, quietly): one line, not a traceback, and no second failure when
            # Python flushes stdout at exit.
            _quiet_stdout()
            what = "cannot write the output" if exc.errno in _OUTPUT_ERRNOS else "OSError"
            text = f"{what}: {exc.strerror or exc}"
            if want_json:
                click.echo(json.dumps({"error": "output" if exc.errno in _OUTPUT_ERRNOS
                                       else "error", "message": text,
                                       "exit_code": EXIT_UNEXPECTED}), err=True)
            else:
                click.echo(f"error: {text}", err=True)
            sys.exit(EXIT_UNEXPECTED)
        finally:
            # Stopped between holding the signals and delivering (an error while the
            # client closed): let them go, dropping any that came meanwhile.
            _held.release(act=False)
            _unlog()
            if sigterm:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.exit(result if isinstance(result, int) else EXIT_OK)


#: write errors of stdout: the command's work is done, its output is what failed
_OUTPUT_ERRNOS: Final = frozenset(
    {errno.ENOSPC, errno.EIO, errno.EPIPE, errno.EBADF, errno.EFBIG, errno.EDQUOT}
)


@click.group("yativo", cls=YativoGroup, epilog=_EPILOG,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="yativo",
                      message="%(prog)s %(version)s")
@click.option("--base-url", envvar="YATIVO_BASE_URL", metavar="URL",
              help="API root (default: production). Env: YATIVO_BASE_URL.")
@click.option("--api-key", envvar="YATIVO_API_KEY", metavar="KEY",
              help="API key (server-to-server). Env: YATIVO_API_KEY.")
@click.option("--api-secret", envvar="YATIVO_API_SECRET", metavar="SECRET",
              help="API secret; '-' reads it from stdin. Prefer YATIVO_API_SECRET: a flag "
                   "shows in ps and in shell history.")
@click.option("--access-token", envvar="YATIVO_ACCESS_TOKEN", metavar="TOKEN",
              help="A user's bearer token; '-' reads it from stdin. Prefer "
                   "YATIVO_ACCESS_TOKEN: a flag shows in ps and in shell history.")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON output.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, /, *, base_url: str | None, api_key: str | None,
        api_secret: str | None, access_token: str | None, json_output: bool,
        debug: bool) -> None:
    """Manage Yativo API keys, and see the SDK at work (yativo demo)."""
    if sys.stdout is None:  # started with >&-: what it prints would vanish (a new secret too)
        raise click.UsageError("stdout is closed; nothing was sent")
    if (ctx.get_parameter_source("access_token") is ParameterSource.COMMANDLINE
            and ParameterSource.COMMANDLINE not in (ctx.get_parameter_source("api_key"),
                                                    ctx.get_parameter_source("api_secret"))):
        # --access-token on the command line wins over a key pair in the environment
        # (which would otherwise win, as in from_env(), and --access-token - never be read).
        api_key = api_secret = None
    ctx.obj = Ctx(base_url=base_url, api_key=api_key, api_secret=api_secret,
                  access_token=access_token, json_output=json_output, debug=debug)


@cli.group()
def keys() -> None:
    """API keys: list, get, create, generate, rotate, revoke, permissions."""


def _key_table(rows: list[ApiKey]) -> Table:
    table = _table("API keys", ("id", "name", "permissions", "status", "created", "expires",
                                "last used"))
    for k in rows:
        table.add_row(_cell(k.id), _cell(k.name), _cell(", ".join(k.permissions)),
                      _cell(k.status or ""), _date(k.created_at), _date(k.expires_at),
                      _date(k.last_used_at))
    return table


def _date(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@keys.command("list")
@common
@pass_ctx
def keys_list(c: Ctx) -> None:
    """List every key (no secrets)."""
    rows = c.call(lambda client: client.api_keys.list())
    if c.json:
        c.emit(to_jsonable(rows))
    elif not rows:
        click.echo("No keys.")
    else:
        c.out.print(_key_table(rows))


@keys.command("get")
@common
@click.argument("key_id")
@pass_ctx
def keys_get(c: Ctx, key_id: str) -> None:
    """Show one key (no secret)."""
    key = c.call(lambda client: client.api_keys.get(key_id))
    if c.json:
        c.emit(to_jsonable(key))
    else:
        c.out.print(_key_table([key]))


# -- commands that make a secret ----------------------------------------------------------


def _plan_secret(c: Ctx, show_secret: bool, secret_file: str | None) -> SecretPlan:
    try:
        return plan(json_output=c.json, show_secret=show_secret, secret_file=secret_file,
                    stdout_tty=_stdout_tty(), stderr_tty=_stderr_tty())
    except NoPlaceForSecret as exc:
        c.fail(str(exc), EXIT_USAGE)


@contextlib.contextmanager
def _reserved(c: Ctx, where: SecretPlan) -> Iterator[SecretFile | None]:
    """The secret file, made before sending and removed again if no secret came."""
    if where.file is None:
        yield None
        return
    sink = SecretFile(where.file)
    try:
        sink.create()
    except SecretFileError as exc:
        c.fail(str(exc), EXIT_USAGE)
    try:
        yield sink
    finally:
        sink.discard()  # a no-op once the secret is written


def _keeping_secret(
    operation: Callable[[YativoClient], Awaitable[M]], done: str
) -> Callable[[YativoClient], Awaitable[M | ResponseDecodeError]]:
    """``operation``, but an answer that did not decode while carrying the new key's secret
    comes back as its error, to be delivered (`_deliver`) rather than lost. A success
    answer that did not decode and held no secret is `OutcomeUnknownError` (exit 7): the
    server acted (``done`` says what to check), so a second try is not the remedy."""

    async def run(client: YativoClient) -> M | ResponseDecodeError:
        unread: ResponseDecodeError | None = None
        try:
            result: M | ResponseDecodeError = await operation(client)
        except ResponseDecodeError as exc:
            if exc.api_secret is None:
                if exc.status is None or not 200 <= exc.status < 300:
                    raise  # no success said: nothing to say the server acted
                unread = exc
            result = exc
        if unread is not None:
            raise OutcomeUnknownError(
                f"the server answered HTTP {unread.status} but its answer could not be read "
                f"({unread.message}), and no new secret could be found in it: {done}",
                operation="cli",
            ) from unread
        # The key exists now: Ctrl-C and SIGTERM wait until its secret is delivered
        # (`_deliver` lets them through), or stopping halfway would lose it.
        _held.hold()
        return result

    return run


class _Held:
    """Ctrl-C and SIGTERM held while a new key's secret is on its way to the user: from the
    answer's arrival until it is shown or saved. A signal that comes meanwhile is kept and
    acts when `_Held.release` is called. Python runs its signal handlers in the main
    thread whichever thread the signal reached (the resolver's threads), so the hold is a
    handler of ours, not a signal mask (which holds the main thread only)."""

    def __init__(self) -> None:
        self.active = False
        self.pending: int | None = None
        self.saved: dict[int, Any] = {}

    def hold(self) -> None:
        import signal
        import threading

        if self.active or threading.current_thread() is not threading.main_thread():
            return
        self.active, self.pending = True, None
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.rehold(sig)

    def rehold(self, sig: int) -> None:
        """(Re)install the holding handler for ``sig`` (a loop's handler was just removed),
        unless ``sig`` is ignored or left to its default (nohup, an embedding program)."""
        import signal

        if not self.active:
            return
        current = signal.getsignal(sig)
        if current is self._handler or not callable(current):
            return
        self.saved[sig] = current
        signal.signal(sig, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        self.defer(signum)

    def defer(self, signum: int) -> None:
        if self.pending is None:
            self.pending = signum

    def release(self, *, act: bool = True) -> None:
        """Undo `hold`; with ``act``, a signal that came meanwhile acts now (raises)."""
        import signal

        if not self.active:
            return
        self.active = False
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        self.saved.clear()
        pending, self.pending = self.pending, None
        if act and pending is not None:
            raise _Terminated() if pending == signal.SIGTERM else KeyboardInterrupt()


_held = _Held()


def _deliver(c: Ctx, where: SecretPlan, sink: SecretFile | None,
             model: CreatedApiKey | RotatedApiKey | ResponseDecodeError, title: str) -> None:
    """Show the result, and the secret exactly where planned (``_secret_out.py``). An
    answer that did not decode but carried the secret (a `ResponseDecodeError` with
    ``api_secret``): the secret still goes where planned, then the error, exit 3.
    Ctrl-C and SIGTERM wait until it is done (`_keeping_secret` held them)."""
    try:
        if isinstance(model, ResponseDecodeError):
            _deliver_undecoded(c, where, sink, model)
        else:
            _deliver_model(c, where, sink, model, title)
    finally:
        _held.release()


def _deliver_model(c: Ctx, where: SecretPlan, sink: SecretFile | None,
                   model: CreatedApiKey | RotatedApiKey, title: str) -> None:
    secret = model.api_secret.get_secret_value()
    lost: str | None = None
    output_failed: str | None = None
    if sink is not None:
        try:
            sink.write(secret)
        except OSError as exc:
            lost = f"it could not be written to {sink.path} ({exc.strerror})"
    try:
        if c.json:
            data = to_jsonable(model, reveal_secrets=where.stdout)
            if sink is not None and lost is None:
                data["secret_file"] = sink.path
            c.emit(data)
        else:
            click.echo(_result_lines(model, title))
            if sink is not None and lost is None:
                click.echo(f"API secret written to {sink.path} (mode 0600).")
            if where.stdout:
                _secret_line(secret, err=False)
    except (OSError, UnicodeError) as exc:  # a closed pipe, a full disk, an I/O error
        _quiet_stdout()
        why = ("stdout was closed before it was written"
               if isinstance(exc, OSError) and exc.errno == errno.EPIPE
               else f"stdout could not be written ({getattr(exc, 'strerror', None) or exc})")
        if where.stdout:
            lost = why
        else:  # the secret went to its file or to stderr; only the rest of the output failed
            output_failed = why
    if where.stderr:
        _secret_line(secret, err=True)
    if lost is not None:
        if _stderr_tty():
            click.echo(f"error: the new secret was not delivered: {lost}. Here it is:",
                       err=True)
            _secret_line(secret, err=True)
        c.fail(f"key {model.id} exists but its new secret was not delivered: {lost}. "
               f"Rotate it (yativo keys rotate {model.id} --secret-file PATH) or revoke it",
               EXIT_UNEXPECTED)
    if output_failed is not None:
        place = f"is in {sink.path}" if sink is not None else "was shown on stderr"
        c.fail(f"key {model.id} is done and its new secret {place}, but {output_failed}",
               EXIT_UNEXPECTED)


def _deliver_undecoded(c: Ctx, where: SecretPlan, sink: SecretFile | None,
                       exc: ResponseDecodeError) -> None:
    assert exc.api_secret is not None
    secret = exc.api_secret.get_secret_value()
    key = exc.key_id or "(id not given)"
    delivered: list[str] = []
    if sink is not None:
        try:
            sink.write(secret)
            delivered.append(f"written to {sink.path}")
        except OSError:
            pass
    if where.stdout:
        try:
            if c.json:
                c.emit({"id": exc.key_id, "api_key": exc.api_key, "api_secret": secret,
                        "error": "ResponseDecodeError", "message": exc.message})
            else:
                click.echo(_visible(f"key {key}: the server's answer did not decode; its "
                                    "secret:"))
                _secret_line(secret, err=False)
            delivered.append("shown on stdout")
        except OSError:
            _quiet_stdout()
    if where.stderr or (not delivered and _stderr_tty()):
        _secret_line(secret, err=True)
        delivered.append("shown on stderr")
    what = " and ".join(delivered) if delivered else "NOT delivered: rotate or revoke the key"
    c.fail(f"key {key} was made but the server's answer did not decode ({exc.message}); its "
           f"new secret was {what}", EXIT_API, kind="ResponseDecodeError")


def _result_lines(model: CreatedApiKey | RotatedApiKey, title: str) -> str:
    """The new key as ``field: value`` lines: shown once, so never cut to a terminal's width
    (a table cell would end ``…``, or fold inside its borders) and easy to copy."""
    lines = [title]
    for field, value in to_jsonable(model).items():
        if field != "api_secret":  # the secret goes only where planned
            shown = value if isinstance(value, str) else json.dumps(value)
            lines.append(f"  {field}: {_visible(shown)}")
    return "\n".join(lines)


def _secret_line(secret: str, *, err: bool) -> None:
    label = click.style("API secret (shown once, store it now):", fg="red", bold=True)
    click.echo(f"{label} {secret}", err=err)


def _quiet_stdout() -> None:
    """After EPIPE: point stdout at devnull so the exit flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


_CREATED_UNREAD = ("the key may have been created without its secret reaching you; check "
                   "yativo keys list (revoke it if it is there) before trying again")
_MAY_HAVE_CREATED = ("the key may have been created; check yativo keys list before "
                     "trying again")


@keys.command("create")
@common
@click.option("--name", required=True, help="A name for the key.")
@click.option("--permission", "permissions", multiple=True, metavar="PERMISSION",
              help=f"{', '.join(sorted(COARSE_PERMISSIONS))} (repeat).")
@click.option("--expires-in-days", type=int, metavar="DAYS")
@two_factor_option(required=True)
@secret_options
@pass_ctx
def keys_create(c: Ctx, name: str, permissions: tuple[str, ...], expires_in_days: int | None,
                two_factor: str | None, show_secret: bool, secret_file: str | None) -> None:
    """Create a key with coarse permissions (needs a 2FA code). Its secret is shown once:
    see --json, --show-secret and --secret-file."""
    where = _plan_secret(c, show_secret, secret_file)
    with _reserved(c, where) as sink:
        code = c.two_factor_code(two_factor, "keys create", required=True)
        created = c.call(_keeping_secret(lambda client: client.api_keys.create(
            name=name, permissions=[CustomPermission(p) for p in permissions] or None,
            expires_in_days=expires_in_days, two_factor_code=code,
        ), _CREATED_UNREAD), interrupted=_MAY_HAVE_CREATED, makes_secret=True)
        _deliver(c, where, sink, created, "New API key")


@keys.command("generate")
@common
@click.option("--name", required=True, help="A name for the key.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE",
              help=f"{', '.join(sorted(SCOPED_PERMISSIONS))} (repeat; default: all).")
@click.option("--expires-at", metavar="WHEN", help="ISO 8601 timestamp.")
@two_factor_option(required=False)
@secret_options
@pass_ctx
def keys_generate(c: Ctx, name: str, scopes: tuple[str, ...], expires_at: str | None,
                  two_factor: str | None, show_secret: bool, secret_file: str | None) -> None:
    """Generate a key with scoped permissions; the answer carries its rate limits. Its
    secret is shown once: see --json, --show-secret and --secret-file."""
    where = _plan_secret(c, show_secret, secret_file)
    with _reserved(c, where) as sink:
        code = c.two_factor_code(two_factor, "keys generate", required=False)
        created = c.call(_keeping_secret(lambda client: client.api_keys.generate(
            name=name, permissions=[CustomPermission(p) for p in scopes] or None,
            expires_at=expires_at,
            two_factor_code=code,
        ), _CREATED_UNREAD), interrupted=_MAY_HAVE_CREATED, makes_secret=True)
        _deliver(c, where, sink, created, "New API key")


@keys.command("rotate")
@common
@click.argument("key_id")
@two_factor_option(required=True)
@secret_options
@pass_ctx
def keys_rotate(c: Ctx, key_id: str, two_factor: str | None, show_secret: bool,
                secret_file: str | None) -> None:
    """Give a key a new secret; the old one stops working (needs a 2FA code). The new
    secret is shown once: see --json, --show-secret and --secret-file."""
    where = _plan_secret(c, show_secret, secret_file)
    with _reserved(c, where) as sink:
        code = c.two_factor_code(two_factor, "keys rotate", required=True)
        rotated = c.call(
            _keeping_secret(lambda client: client.api_keys.rotate(key_id, two_factor_code=code),
                            f"{key_id} may have been rotated without its new secret reaching "
                            "you; if its old secret no longer works, rotate it again"),
            interrupted=f"{key_id} may have been rotated; if its old secret no longer works, "
                        "rotate it again",
            makes_secret=True,
        )
        _deliver(c, where, sink, rotated, "Rotated API key")


@keys.command("revoke", epilog="Exit code 8 when not confirmed, 130 on Ctrl-C at the question; "
                                "nothing is sent in either case.")
@common
@click.argument("key_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@two_factor_option(required=True)
@pass_ctx
def keys_revoke(c: Ctx, key_id: str, yes: bool, two_factor: str | None) -> None:
    """Revoke a key, permanently (needs a 2FA code). Asks first, unless --yes."""
    if not yes:
        try:
            # a closed stdin (<&-) answers nothing: not confirmed, as at the end of input
            confirmed = sys.stdin is not None and click.confirm(
                f"Revoke {key_id} permanently?", err=True)
        except click.Abort as exc:
            if _interrupted(exc):  # Ctrl-C: 130 as everywhere (rule 6), not 8
                c.fail(f"interrupted: {key_id} not revoked", EXIT_INTERRUPTED)
            confirmed = False  # end of input: nobody said yes
        if not confirmed:
            c.fail(f"{key_id} not revoked: not confirmed (scripts pass --yes)",
                   EXIT_NOT_CONFIRMED)
    code = c.two_factor_code(two_factor, "keys revoke", required=True)
    c.call(lambda client: client.api_keys.revoke(key_id, two_factor_code=code))
    if c.json:
        c.emit({"id": key_id, "revoked": True})
    else:
        click.echo(f"Revoked {key_id}.")


@keys.command("permissions")
@common
@click.argument("key_id")
@click.argument("permissions", nargs=-1, required=True)
@two_factor_option(required=True)
@pass_ctx
def keys_permissions(c: Ctx, key_id: str, permissions: tuple[str, ...],
                     two_factor: str | None) -> None:
    """Replace a key's permissions with PERMISSIONS (needs a 2FA code): read, write,
    transactions, webhooks, or scopes such as transactions:read."""
    code = c.two_factor_code(two_factor, "keys permissions", required=True)

    async def update(client: YativoClient) -> ApiKey | None:
        await client.api_keys.update_permissions(
            key_id, [CustomPermission(p) for p in permissions], two_factor_code=code)
        try:  # what the server made of them (it drops repeats, may normalise)
            return await client.api_keys.get(key_id)
        except YativoError:
            return None  # set, but not read back: say what was sent

    key = c.call(update)
    now = list(key.permissions) if key is not None else list(dict.fromkeys(permissions))
    if c.json:
        c.emit({"id": key_id, "permissions": now})
    else:
        click.echo(_visible(f"{key_id}: permissions set to {', '.join(now)}."))


@cli.command()
@common
@click.option("--reveal", is_flag=True, help="Print the token itself.")
@pass_ctx
def token(c: Ctx, reveal: bool) -> None:
    """Exchange the API key and secret for a bearer token."""
    access = c.call(lambda client: client.auth.exchange_token())
    data = to_jsonable(access, reveal_secrets=reveal)
    if c.json:
        c.emit(data)
    else:
        click.echo(_visible(f"token_type={access.token_type} expires_in={access.expires_in}s "
                            f"access_token={data['access_token']}"))


@cli.command("fake-server")
@common
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="0 picks a free port.")
@click.option("--token-ttl", type=int, default=3600, show_default=True)
@click.option("--stop-after", type=float, default=None, help="Stop after N seconds.")
@click.option("--no-limits", is_flag=True, help="Serve with no rate limits (benchmarks).")
@pass_ctx
def fake_server(c: Ctx, port: int, token_ttl: int, stop_after: float | None,
                no_limits: bool) -> None:
    """Serve a fake Yativo API on 127.0.0.1 for local development (Ctrl-C stops it)."""
    from ..testing import FakeYativo

    async def serve() -> None:
        limits = () if no_limits else DEFAULT_RATE_LIMITS
        try:
            fake = await FakeYativo(port=port, token_ttl=token_ttl, rate_limits=limits).start()
        except OSError as exc:  # the bind: in use, or a privileged port
            raise _PortError(exc) from exc
        async with fake:
            info = {"base_url": fake.base_url, "access_token": fake.access_token,
                    "totp_secret": fake.totp_secret}
            if c.json:
                click.echo(json.dumps(info))
            else:
                click.echo(f"FakeYativo serving on {fake.base_url}")
                click.echo(f"  export YATIVO_BASE_URL={fake.base_url}")
                click.echo(f"  export YATIVO_ACCESS_TOKEN={fake.access_token}")
                click.echo(f"  export YATIVO_TOTP_SECRET={fake.totp_secret}")
                click.echo("Ctrl-C stops it.")
            if stop_after is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(stop_after)

    try:
        asyncio.run(_awaitable(serve))
    except KeyboardInterrupt as exc:
        sys.exit(_stopped(exc)[1])  # the way to stop it: no error line (rule 6)
    except _PortError as exc:
        error = exc.args[0]
        why = ("is in use" if error.errno == errno.EADDRINUSE
               else f"cannot be used ({error.strerror})")
        c.fail(f"port {port} on 127.0.0.1 {why}; choose another --port (0 picks a free one)",
               EXIT_USAGE)
    # any other OSError is the output's (a closed pipe, a full disk): YativoGroup.main's


class _PortError(Exception):
    """fake-server could not bind its port."""


@cli.command()
@common
@click.option("--calls", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--faults/--no-faults", default=True, show_default=True,
              help="Latency jitter and some 503s.")
@click.option("--seed", type=int, default=1)
@pass_ctx
def demo(c: Ctx, calls: int, concurrency: int, faults: bool, seed: int) -> None:
    """Run a batch through one client against a fake Yativo API on a loopback port."""
    from ._demo import render, run_demo

    stats = c.run(lambda: run_demo(calls=calls, concurrency=concurrency, faults=faults,
                                   seed=seed, progress=not c.json and _stdout_tty(),
                                   console=c.out))
    if c.json:
        click.echo(json.dumps(stats, sort_keys=True))
    else:
        c.out.print(render(stats))
