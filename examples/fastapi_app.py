"""A FastAPI app sharing one YativoClient across every request.

    YATIVO_API_KEY=... YATIVO_API_SECRET=... uvicorn examples.fastapi_app:app

- one client, created in the lifespan, shared through ``app.state``, closed at shutdown;
- ``max_wait``: a request that cannot get rate-limit budget within 2 s fails fast, and the
  client-side ``RateLimitError`` becomes ``429`` with ``Retry-After``;
- a value from the request that the SDK refuses (``ValueError``/``TypeError``, raised before
  anything is sent: a key id like ``" "``) is the caller's mistake: ``400``, not ``500``;
- every other SDK error is a short JSON answer, never a traceback nor the upstream's details
  (`error_answer`): no token could be had, or no shared budget (Redis): ``503``, with
  ``Retry-After`` when known; the upstream failed or answered what does not decode: ``502``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import yativo_async as y

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


class BadInput(Exception):
    """A value from the request that the SDK refused; the message (the SDK's) names it."""


def yativo(request: Request) -> y.YativoClient:
    client: y.YativoClient = request.app.state.yativo
    return client


def create_app(client_factory: ClientFactory = default_client) -> FastAPI:
    """The app; ``client_factory`` makes the one client (tests point it at FakeYativo)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client_factory() as client:  # closed at shutdown, even after errors
            app.state.yativo = client
            yield

    app = FastAPI(lifespan=lifespan)

    @app.exception_handler(y.YativoError)  # subclasses included: see error_answer
    async def yativo_error(request: Request, exc: y.YativoError) -> JSONResponse:
        status, body, headers = error_answer(exc)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/keys")
    async def list_keys(request: Request) -> list[dict[str, Any]]:
        keys = await yativo(request).api_keys.list()
        return [{"id": k.id, "name": k.name, "status": k.status} for k in keys]

    @app.get("/keys/{key_id}")
    async def get_key(key_id: str, request: Request) -> dict[str, Any]:
        try:
            key = await yativo(request).api_keys.get(key_id)
        except (ValueError, TypeError) as exc:
            # Raised for a bad argument only, before anything is sent. Caught around the
            # call that takes the caller's value, not app-wide: elsewhere a ValueError is
            # this app's own bug and should stay a 500.
            raise BadInput(str(exc)) from None
        data: dict[str, Any] = y.to_jsonable(key)
        return data

    return app


app = create_app()
