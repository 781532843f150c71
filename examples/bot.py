"""A bot loop that runs for days on one key.

    YATIVO_API_KEY=... YATIVO_API_SECRET=... YATIVO_TOTP_SECRET=... \\
        python -m examples.bot --key-id key_... --credentials-out bot-credentials.json

What it lives through, and how:

- **token expiry**: nothing to do. The client exchanges the key for a bearer token and
  refreshes it ahead of expiry; a 401 on a stale token refreshes once and replays once.
- **budget exhaustion**: the client holds every call inside the key's windows. With
  ``max_wait`` set, a call that would wait longer raises ``RateLimitError`` with
  ``retry_after``; the bot sleeps that long instead of hammering the API.
- **network blips and 5xx**: retried inside the client; what still fails is counted and the
  bot backs off one interval.
- **credential rotation**: every ``rotate_every`` seconds the bot rotates its own key.
  ``api_keys.rotate`` adopts the new secret in the client at once (the next token exchange
  uses it), and ``on_rotated`` stores it before anything else happens: no restart.
- **a restart after a rotation**: the secret in the environment is dead by then, so on start
  the bot reads ``--credentials-out`` back: if the file exists, its key pair is used instead
  of ``YATIVO_API_KEY``/``YATIVO_API_SECRET`` (a log line says so, never the secret). Run
  the same command again, with the same environment and the same file. To start over from
  the environment's key pair (a key rotated or replaced by hand), delete the file.
- **a refused key** (revoked, lost its rights, an old secret): a one-line error naming where
  the key pair came from, exit status 1. Bad arguments or an unreadable credentials file: a
  usage error; no credentials at all: a one-line error; exit status 2 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yativo_async as y

log = logging.getLogger("examples.bot")


@dataclass
class BotStats:
    """What the bot did; ``rate_limited`` counts the times it slept for budget."""

    ticks: int = 0
    ok: int = 0
    rate_limited: int = 0
    errors: int = 0
    rotations: int = 0


async def run_bot(
    client: y.YativoClient,
    *,
    key_id: str,
    stop: asyncio.Event,
    interval: float = 60.0,
    rotate_every: float = 24 * 3600.0,
    on_rotated: Callable[[y.RotatedApiKey], None] = lambda rotated: None,
) -> BotStats:
    """Poll the API every ``interval`` seconds until ``stop`` is set.

    Raises:
        AuthenticationError, PermissionDeniedError: the key was revoked or lost its
            rights; a bot cannot fix that itself.
        OutcomeUnknownError: a rotation whose answer was lost: the old secret may be dead
            and the new one unknown. Check the key (the message names it) and restart.
    """
    loop = asyncio.get_running_loop()
    stats = BotStats()
    next_rotation = loop.time() + rotate_every
    while not stop.is_set():
        stats.ticks += 1
        pause = interval
        try:
            await client.api_keys.list()  # the bot's work
            stats.ok += 1
            if loop.time() >= next_rotation:
                rotated = await client.api_keys.rotate(key_id)  # adopted by the client
                on_rotated(rotated)
                stats.rotations += 1
                log.info("rotated key %s", key_id)
                next_rotation = loop.time() + rotate_every
        except y.RateLimitError as exc:
            stats.rate_limited += 1
            pause = max(interval, exc.retry_after or interval)
            log.info("out of budget; sleeping %.0f s", pause)
        except (y.ServerError, y.APIConnectionError) as exc:
            stats.errors += 1
            log.warning("call failed after retries (%s); trying again later", type(exc).__name__)
        # Sleep, but wake at once when asked to stop.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
    return stats


def save_credentials(path: Path) -> Callable[[y.RotatedApiKey], None]:
    """``on_rotated`` that keeps the current key pair in ``path`` (mode 0600), replaced
    atomically so a crash never leaves half a file."""

    def save(rotated: y.RotatedApiKey) -> None:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"api_key": rotated.api_key,
                       "api_secret": rotated.api_secret.get_secret_value()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    return save


def saved_credentials(path: Path) -> y.ClientOptions:
    """The key pair `save_credentials` kept in ``path`` when an earlier run rotated the key,
    as ``from_env`` overrides; empty when there is no such file.

    Raises:
        OSError: the file exists but cannot be read.
        ValueError: it is not what `save_credentials` writes (the message never quotes it:
            it holds a secret).
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        saved = json.loads(text)
    except ValueError:
        raise ValueError(f"{path} is not JSON") from None
    secret = saved.get("api_secret") if isinstance(saved, dict) else None
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"{path} holds no api_secret")
    overrides: y.ClientOptions = {"api_secret": y.Secret(secret)}
    api_key = saved.get("api_key")
    if isinstance(api_key, str) and api_key:  # else the environment's key id stays
        overrides["api_key"] = api_key
    return overrides


def positive_float(text: str) -> float:
    """``--interval``, ``--rotate-every-hours``: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="poll the API for days, rotating the key")
    parser.add_argument("--key-id", required=True, help="the id of the key the bot runs on")
    parser.add_argument("--credentials-out", type=Path, required=True,
                        help="where each rotation stores the new key pair; read back on start")
    parser.add_argument("--interval", type=positive_float, default=60.0)
    parser.add_argument("--rotate-every-hours", type=positive_float, default=24.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        saved = saved_credentials(args.credentials_out)
    except (OSError, ValueError) as exc:
        parser.error(f"--credentials-out: {exc}")
    if saved:
        # The environment's secret was rotated away by an earlier run: this one is current.
        source = str(args.credentials_out)
        log.info("using the key pair in %s (saved by an earlier rotation), not the "
                 "environment's", source)
    else:
        source = "the environment"
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    # max_wait: rather than a call queued for an hour, a RateLimitError saying how long.
    options: y.ClientOptions = {"max_wait": 30.0, **saved}
    try:
        client = y.YativoClient.from_env(**options)
    except ValueError as exc:  # no credentials, or a malformed setting (named, no secret)
        log.error("%s", exc)
        return 2
    try:
        async with client:
            stats = await run_bot(client, key_id=args.key_id, stop=stop,
                                  interval=args.interval,
                                  rotate_every=args.rotate_every_hours * 3600,
                                  on_rotated=save_credentials(args.credentials_out))
    except (y.AuthenticationError, y.PermissionDeniedError) as exc:
        hint = f" (delete {source} to go back to the environment's)" if saved else ""
        log.error("the key pair from %s was refused: %s%s", source, exc, hint)
        return 1
    except y.OutcomeUnknownError as exc:  # a rotation whose answer was lost: says what to do
        log.error("%s", exc)
        return 1
    log.info("stopped: %s", stats)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
