"""``yativo``: operators manage keys from a terminal; ``yativo demo`` shows the SDK at work.

Exit codes: 0 ok, 1 unexpected, 2 usage, 3 API error, 4 authentication/permission,
5 rate limited, 6 connection/timeout, 7 outcome unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from .. import _errors as errors
from .._client import YativoClient
from .._config import DEFAULT_RATE_LIMITS
from .._converter import to_jsonable
from .._models import ApiKey, CreatedApiKey, RotatedApiKey
from .._sansio import redact_text

T = TypeVar("T")

EXIT_UNEXPECTED, EXIT_USAGE, EXIT_API, EXIT_AUTH, EXIT_RATE, EXIT_CONN, EXIT_UNKNOWN = (
    1, 2, 3, 4, 5, 6, 7,
)


class Ctx:
    def __init__(self, **options: Any) -> None:
        self.options = options
        self.json: bool = options["json_output"]
        self.debug: bool = options["debug"]
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False)

    def client(self, *, needs_2fa: bool = False) -> YativoClient:
        o = self.options
        kwargs: dict[str, Any] = {}
        if o["base_url"]:
            kwargs["base_url"] = o["base_url"]
        if o["api_key"] or o["api_secret"]:
            kwargs["api_key"], kwargs["api_secret"] = o["api_key"], o["api_secret"]
        elif o["access_token"]:
            kwargs["access_token"] = o["access_token"]
        code = o["two_factor_code"]
        if code:
            kwargs["two_factor"] = lambda: code
        elif not os.environ.get("YATIVO_TOTP_SECRET") and needs_2fa and _interactive():
            kwargs["two_factor"] = lambda: click.prompt("2FA code", hide_input=True)
        return YativoClient.from_env(**kwargs)

    def emit(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, sort_keys=True))

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return asyncio.run(_awaitable(make))
        except errors.OutcomeUnknownError as exc:
            self._fail(exc, EXIT_UNKNOWN)
        except errors.RateLimitError as exc:
            self._fail(exc, EXIT_RATE)
        except (errors.AuthenticationError, errors.PermissionDeniedError,
                errors.TokenUnavailableError) as exc:
            self._fail(exc, EXIT_AUTH)
        except errors.APIConnectionError as exc:
            self._fail(exc, EXIT_CONN)
        except (errors.APIStatusError, errors.ResponseDecodeError) as exc:
            self._fail(exc, EXIT_API)
        except (ValueError, TypeError) as exc:
            self._fail(exc, EXIT_USAGE)
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        except Exception as exc:
            self._fail(exc, EXIT_UNEXPECTED)
        raise AssertionError("unreachable")  # pragma: no cover

    def _fail(self, exc: BaseException, code: int) -> None:
        if self.debug:
            self.err.print(traceback.format_exc(), markup=False)
        message = f"error: {exc.__class__.__name__}: {redact_text(str(exc))}"
        if self.json:
            click.echo(json.dumps({"error": exc.__class__.__name__,
                                   "message": redact_text(str(exc)),
                                   "exit_code": code}), err=True)
        else:
            self.err.print(message, markup=False)
        raise SystemExit(code)


def _interactive() -> bool:
    """A person is at the terminal (so a 2FA code may be asked for)."""
    return sys.stdin.isatty()


async def _awaitable(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


pass_ctx = click.make_pass_decorator(Ctx)


def _set_flag(name: str) -> Callable[[click.Context, click.Parameter, bool], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            setattr(ctx.ensure_object(Ctx), name, True)

    return callback


def _set_code(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(Ctx).options["two_factor_code"] = value


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` and ``--debug`` work after the subcommand too (``yativo demo --json``)."""
    f = click.option("--2fa", "two_factor_flag", expose_value=False, callback=_set_code,
                     help="2FA code (else YATIVO_TOTP_SECRET or a prompt).")(f)
    f = click.option("--json", "json_flag", is_flag=True, expose_value=False,
                     callback=_set_flag("json"), help="Machine-readable JSON output.")(f)
    return click.option("--debug", "debug_flag", is_flag=True, expose_value=False,
                        callback=_set_flag("debug"), help="Show tracebacks.")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--base-url", envvar="YATIVO_BASE_URL", help="API root (default: production).")
@click.option("--api-key", envvar="YATIVO_API_KEY", help="API key (server-to-server).")
@click.option("--api-secret", envvar="YATIVO_API_SECRET", help="API secret.")
@click.option("--access-token", envvar="YATIVO_ACCESS_TOKEN", help="A user's bearer token.")
@click.option("--2fa", "two_factor_code", help="2FA code (else YATIVO_TOTP_SECRET or a prompt).")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON output.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, /, **options: Any) -> None:
    """Manage Yativo API keys, and see the SDK at work (yativo demo)."""
    ctx.obj = Ctx(**options)


@cli.group()
def keys() -> None:
    """API keys: list, get, create, generate, rotate, revoke, permissions."""


def _key_table(rows: list[ApiKey]) -> Table:
    table = Table(title="API keys")
    for column in ("id", "name", "permissions", "status", "created", "expires", "last used"):
        table.add_column(column, no_wrap=column in ("id", "status"))
    for k in rows:
        table.add_row(k.id, k.name, ", ".join(k.permissions), k.status or "",
                      _date(k.created_at), _date(k.expires_at), _date(k.last_used_at))
    return table


def _date(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@keys.command("list")
@common
@pass_ctx
def keys_list(c: Ctx) -> None:
    """List every key (no secrets)."""

    async def go() -> list[ApiKey]:
        async with c.client() as client:
            return await client.api_keys.list()

    rows = c.run(go)
    if c.json:
        c.emit(to_jsonable(rows))
    else:
        c.out.print(_key_table(rows))


@keys.command("get")
@common
@click.argument("key_id")
@pass_ctx
def keys_get(c: Ctx, key_id: str) -> None:
    """Show one key."""

    async def go() -> ApiKey:
        async with c.client() as client:
            return await client.api_keys.get(key_id)

    key = c.run(go)
    if c.json:
        c.emit(to_jsonable(key))
    else:
        c.out.print(_key_table([key]))


def _show_secret(c: Ctx, model: CreatedApiKey | RotatedApiKey, title: str) -> None:
    if c.json:
        c.emit(to_jsonable(model, reveal_secrets=True))
        return
    data = to_jsonable(model)
    table = Table(title=title, show_header=False)
    table.add_column("field")
    table.add_column("value")
    for field, value in data.items():
        if field == "api_secret":
            continue
        table.add_row(field, json.dumps(value) if not isinstance(value, str) else value)
    c.out.print(table)
    if sys.stdout.isatty() or os.environ.get("YATIVO_SHOW_SECRET") == "1":
        c.out.print("[bold red]API SECRET (shown once, store it now):[/bold red] "
                    + model.api_secret.get_secret_value(), soft_wrap=True)
    else:
        c.err.print("The API secret is not printed to a pipe; rerun with --json to capture it.")


@keys.command("create")
@common
@click.option("--name", required=True)
@click.option("--permission", "permissions", multiple=True,
              help="read, write, transactions, webhooks (repeat).")
@click.option("--expires-in-days", type=int)
@pass_ctx
def keys_create(c: Ctx, name: str, permissions: tuple[str, ...],
                expires_in_days: int | None) -> None:
    """Create a key (doc 002; needs 2FA)."""

    async def go() -> CreatedApiKey:
        async with c.client(needs_2fa=True) as client:
            return await client.api_keys.create(
                name=name, permissions=list(permissions) or None, expires_in_days=expires_in_days
            )

    _show_secret(c, c.run(go), "New API key")


@keys.command("generate")
@common
@click.option("--name", required=True)
@click.option("--scope", "scopes", multiple=True, help="e.g. transactions:read (repeat).")
@click.option("--expires-at", help="ISO 8601 timestamp.")
@pass_ctx
def keys_generate(c: Ctx, name: str, scopes: tuple[str, ...], expires_at: str | None) -> None:
    """Generate a key (doc 000; scoped permissions)."""

    async def go() -> CreatedApiKey:
        async with c.client() as client:
            return await client.api_keys.generate(
                name=name, permissions=list(scopes) or None, expires_at=expires_at
            )

    _show_secret(c, c.run(go), "New API key")


@keys.command("rotate")
@common
@click.argument("key_id")
@pass_ctx
def keys_rotate(c: Ctx, key_id: str) -> None:
    """Rotate a key's secret (the old one stops working)."""

    async def go() -> RotatedApiKey:
        async with c.client(needs_2fa=True) as client:
            return await client.api_keys.rotate(key_id)

    _show_secret(c, c.run(go), "Rotated API key")


@keys.command("revoke")
@common
@click.argument("key_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def keys_revoke(c: Ctx, key_id: str, yes: bool) -> None:
    """Revoke a key, permanently."""
    if not yes:
        click.confirm(f"Revoke {key_id} permanently?", abort=True, err=True)

    async def go() -> None:
        async with c.client(needs_2fa=True) as client:
            await client.api_keys.revoke(key_id)

    c.run(go)
    if c.json:
        c.emit({"id": key_id, "revoked": True})
    else:
        c.out.print(f"Revoked {key_id}.")


@keys.command("permissions")
@common
@click.argument("key_id")
@click.argument("permissions", nargs=-1, required=True)
@pass_ctx
def keys_permissions(c: Ctx, key_id: str, permissions: tuple[str, ...]) -> None:
    """Replace a key's permissions."""

    async def go() -> None:
        async with c.client(needs_2fa=True) as client:
            await client.api_keys.update_permissions(key_id, list(permissions))

    c.run(go)
    if c.json:
        c.emit({"id": key_id, "permissions": list(permissions)})
    else:
        c.out.print(f"{key_id}: permissions set to {', '.join(permissions)}.")


@cli.command()
@common
@click.option("--reveal", is_flag=True, help="Print the token itself.")
@pass_ctx
def token(c: Ctx, reveal: bool) -> None:
    """Exchange the API key and secret for a bearer token."""

    async def go() -> Any:
        async with c.client() as client:
            return await client.auth.exchange_token()

    access = c.run(go)
    data = to_jsonable(access, reveal_secrets=reveal)
    if c.json:
        c.emit(data)
    else:
        c.out.print(f"token_type={access.token_type} expires_in={access.expires_in}s "
                    f"access_token={data['access_token']}")


@cli.command("fake-server")
@common
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--token-ttl", type=int, default=3600, show_default=True)
@click.option("--stop-after", type=float, default=None, help="Stop after N seconds.")
@click.option("--no-limits", is_flag=True, help="Serve with no rate limits (benchmarks).")
@pass_ctx
def fake_server(c: Ctx, port: int, token_ttl: int, stop_after: float | None,
                no_limits: bool) -> None:
    """Serve FakeYativo on 127.0.0.1 for local development."""
    from ..testing import FakeYativo

    async def serve() -> None:
        limits = () if no_limits else DEFAULT_RATE_LIMITS
        async with FakeYativo(port=port, token_ttl=token_ttl, rate_limits=limits) as fake:
            info = {"base_url": fake.base_url, "access_token": fake.access_token,
                    "totp_secret": fake.totp_secret}
            if c.json:
                click.echo(json.dumps(info))
            else:
                c.out.print(f"FakeYativo serving on {fake.base_url}")
                c.out.print(f"  export YATIVO_BASE_URL={fake.base_url}")
                c.out.print(f"  export YATIVO_ACCESS_TOKEN={fake.access_token}")
                c.out.print(f"  export YATIVO_TOTP_SECRET={fake.totp_secret}")
                c.out.print("Ctrl-C stops it.")
            sys.stdout.flush()
            if stop_after is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(stop_after)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


@cli.command()
@common
@click.option("--calls", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--faults/--no-faults", default=True, show_default=True,
              help="Latency jitter and some 503s.")
@click.option("--seed", type=int, default=1)
@pass_ctx
def demo(c: Ctx, calls: int, concurrency: int, faults: bool, seed: int) -> None:
    """Run a batch through one client against FakeYativo on a loopback port."""
    from ._demo import render, run_demo

    stats = c.run(lambda: run_demo(calls=calls, concurrency=concurrency, faults=faults,
                                   seed=seed, progress=not c.json, console=c.out))
    if c.json:
        click.echo(json.dumps(stats, sort_keys=True))
    else:
        c.out.print(render(stats))
