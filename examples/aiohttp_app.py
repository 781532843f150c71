"""An aiohttp.web app sharing one YativoClient across every request.

    YATIVO_API_KEY=... YATIVO_API_SECRET=... python -m examples.aiohttp_app

- one client, created at startup (``cleanup_ctx``), shared, closed at shutdown;
- ``max_wait``: a request that cannot get rate-limit budget within 2 s fails fast, and the
  client-side ``RateLimitError`` becomes ``429`` with ``Retry-After`` instead of a hung request;
- a value from the request that the SDK refuses (``ValueError``/``TypeError``, raised before
  anything is sent: a key id like ``../``) is the caller's mistake: ``400``, not ``500``;
- every other SDK error is a short JSON answer, never a traceback nor the upstream's details
  (`error_answer`): no token could be had, or no shared budget (Redis): ``503``, with
  ``Retry-After`` when known; the upstream failed or answered what does not decode: ``502``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

import yativo_async as y

CLIENT: web.AppKey[y.YativoClient] = web.AppKey("yativo", y.YativoClient)

ClientFactory = Callable[[], y.YativoClient]


def default_client() -> y.YativoClient:
    """Credentials from the environment; wait at most 2 s for budget, then answer 429."""
    return y.YativoClient.from_env(max_wait=2.0)


def error_answer(exc: y.YativoError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """This app's answer to an SDK error: status, JSON body, headers. Only the error's type
    goes out, never its message: the upstream's details (or a secret) stay here."""
    if isinstance(exc, y.RateLimitError):
        # Whole seconds, rounded up: Retry-After takes an integer (RFC 9110).
        retry_after = math.ceil(exc.retry_after) if exc.retry_after is not None else 1
        return (429, {"error": "rate limited", "retry_after": retry_after},
                {"Retry-After": str(retry_after)})
    if isinstance(exc, y.NotFoundError):
        return 404, {"error": "no such key"}, {}
    if isinstance(exc, (y.TokenUnavailableError, y.RedisUnavailableError)):
        # Nothing was sent: no bearer token could be had (the exchange failed or backs off),
        # or the fleet's shared budget is unreachable. Unavailable for now, not broken.
        body: dict[str, Any] = {"error": f"unavailable: {type(exc).__name__}"}
        if exc.retry_after is None:
            return 503, body, {}
        retry_after = max(1, math.ceil(exc.retry_after))
        return 503, {**body, "retry_after": retry_after}, {"Retry-After": str(retry_after)}
    # The upstream failed (APIStatusError, APIConnectionError) or answered what does not
    # decode (ResponseDecodeError), or any other SDK error: a bad gateway, without details.
    return 502, {"error": f"upstream: {type(exc).__name__}"}, {}


@web.middleware
async def yativo_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Map the SDK's errors to HTTP answers for this app's own callers (`error_answer`)."""
    try:
        return await handler(request)
    except y.YativoError as exc:
        status, body, headers = error_answer(exc)
        return web.json_response(body, status=status, headers=headers)


async def list_keys(request: web.Request) -> web.Response:
    client = request.app[CLIENT]
    keys = await client.api_keys.list()
    return web.json_response([{"id": k.id, "name": k.name, "status": k.status} for k in keys])


def bad_request(exc: ValueError | TypeError) -> web.Response:
    """The SDK's message names what was wrong with the caller's value (never a secret)."""
    return web.json_response({"error": str(exc)}, status=400)


async def get_key(request: web.Request) -> web.Response:
    try:
        key = await request.app[CLIENT].api_keys.get(request.match_info["key_id"])
    except (ValueError, TypeError) as exc:
        # Raised for a bad argument only, before anything is sent. Caught here, around the
        # call that takes the caller's value, not in the middleware: elsewhere a ValueError
        # is this app's own bug and should stay a 500.
        return bad_request(exc)
    return web.json_response(y.to_jsonable(key))


def create_app(client_factory: ClientFactory = default_client) -> web.Application:
    """The app; ``client_factory`` makes the one client (tests point it at FakeYativo)."""

    async def yativo_client(app: web.Application) -> AsyncIterator[None]:
        async with client_factory() as client:  # closed at shutdown, even after errors
            app[CLIENT] = client
            yield

    app = web.Application(middlewares=[yativo_errors])
    app.cleanup_ctx.append(yativo_client)
    app.router.add_get("/keys", list_keys)
    app.router.add_get("/keys/{key_id}", get_key)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=8080)
