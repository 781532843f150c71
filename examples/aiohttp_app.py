"""An aiohttp.web app sharing one YativoClient across every request.

    YATIVO_API_KEY=... YATIVO_API_SECRET=... python -m examples.aiohttp_app

- one client, created at startup (``cleanup_ctx``), shared, closed at shutdown;
- ``max_wait``: a request that cannot get rate-limit budget within 2 s fails fast, and the
  client-side ``RateLimitError`` becomes ``429`` with ``Retry-After`` instead of a hung request;
- a value from the request that the SDK refuses (``ValueError``/``TypeError``, raised before
  anything is sent: a key id like ``../``) is the caller's mistake: ``400``, not ``500``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

import yativo_async as y

CLIENT: web.AppKey[y.YativoClient] = web.AppKey("yativo", y.YativoClient)

ClientFactory = Callable[[], y.YativoClient]


def default_client() -> y.YativoClient:
    """Credentials from the environment; wait at most 2 s for budget, then answer 429."""
    return y.YativoClient.from_env(max_wait=2.0)


@web.middleware
async def yativo_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Map the SDK's errors to HTTP answers for this app's own callers."""
    try:
        return await handler(request)
    except y.RateLimitError as exc:
        # Whole seconds, rounded up: Retry-After takes an integer (RFC 9110).
        retry_after = math.ceil(exc.retry_after) if exc.retry_after is not None else 1
        return web.json_response(
            {"error": "rate limited", "retry_after": retry_after},
            status=429, headers={"Retry-After": str(retry_after)},
        )
    except y.NotFoundError:
        return web.json_response({"error": "no such key"}, status=404)
    except (y.APIStatusError, y.APIConnectionError) as exc:
        # The upstream failed; say so without passing its details (or secrets) on.
        return web.json_response({"error": f"upstream: {type(exc).__name__}"}, status=502)


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
