"""A blocking facade for scripts and notebooks: ``yativo_async.sync.YativoClient``.

    from yativo_async.sync import YativoClient

    with YativoClient(api_key="yvk_live_...", api_secret="yvs_live_...") as client:
        for key in client.api_keys.list():
            print(key.name)

Rules of this module:

1. One event loop per facade, on a private daemon thread. The async `yativo_async.YativoClient`
   is built, used and closed on that loop only; each blocking method hands its coroutine to
   the loop (``run_coroutine_threadsafe``) and waits for the result. Nothing here touches the
   async client's code path: it costs the async client nothing.
2. Callable from any thread, a thread running its own loop included (Jupyter): the caller
   blocks, but the call never needs the caller's loop, so it cannot deadlock. A call from the
   facade's own thread (a sync hook calling back) would wait on itself: it raises
   ``RuntimeError`` instead.
3. Errors are the async client's own exception objects, re-raised: the same classes, the same
   attributes (``status``, ``retry_after`` ...).
4. ``close()`` (or leaving the ``with`` block) closes the async client on its loop, stops the
   loop and joins the thread before it returns; it is idempotent. A facade never closed is
   closed (without waiting) when it is garbage collected. Interrupting a blocking call
   (Ctrl-C) cancels it on the loop.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Literal, ParamSpec, TypeVar

from ._client import _UNSET, ApiKeysResource, AuthResource, ClientOptions, ClientStats, _Unset
from ._client import YativoClient as AsyncYativoClient
from ._config import RateLimit, RetryPolicy
from ._errors import ClientClosedError
from ._ratelimit import WindowStatus
from ._resources import ApiKeysWithRawResponse, AuthWithRawResponse
from ._secret import SecretLike

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # a dependency of cattrs (and aiohttp) below 3.11
    from typing_extensions import Unpack

__all__ = ["ApiKeys", "ApiKeysRaw", "Auth", "AuthRaw", "YativoClient"]

P = ParamSpec("P")
T = TypeVar("T")


class _LoopThread:
    """An event loop running on its own thread (rule 1)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._main, name="yativo-async-sync", daemon=True
        )
        self.stopped = False
        self.thread.start()

    def _main(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop; wait for its result (rule 2, 3)."""
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError(
                "a yativo_async.sync.YativoClient was called from its own event loop thread "
                "(from a hook?): it would wait on itself. Use the async client there"
            )
        if self.stopped:
            coro.close()
            raise ClientClosedError("this YativoClient is closed; create a new one")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            if not future.done():  # the wait was interrupted (Ctrl-C): stop the call too
                future.cancel()
            raise

    def stop(self, *, wait: bool = True) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        if wait and threading.current_thread() is not self.thread:
            self.thread.join()


def _blocking(runner: _LoopThread, method: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """``method`` (an async endpoint) as a blocking function with the same signature."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        async def run() -> T:
            return await method(*args, **kwargs)

        return runner.run(run())

    return call


class ApiKeysRaw:
    """``client.api_keys.with_raw_response``, blocking: each returns a
    `yativo_async.APIResponse`."""

    def __init__(self, runner: _LoopThread, resource: ApiKeysWithRawResponse) -> None:
        self.list = _blocking(runner, resource.list)
        self.get = _blocking(runner, resource.get)
        self.create = _blocking(runner, resource.create)
        self.generate = _blocking(runner, resource.generate)
        self.rotate = _blocking(runner, resource.rotate)
        self.revoke = _blocking(runner, resource.revoke)
        self.update_permissions = _blocking(runner, resource.update_permissions)


class AuthRaw:
    """``client.auth.with_raw_response``, blocking."""

    def __init__(self, runner: _LoopThread, resource: AuthWithRawResponse) -> None:
        self.exchange_token = _blocking(runner, resource.exchange_token)


class ApiKeys:
    """``client.api_keys``: the endpoints of `yativo_async.ApiKeysResource`, blocking."""

    def __init__(self, runner: _LoopThread, resource: ApiKeysResource) -> None:
        self.with_raw_response = ApiKeysRaw(runner, resource.with_raw_response)
        self.list = _blocking(runner, resource.list)
        self.get = _blocking(runner, resource.get)
        self.create = _blocking(runner, resource.create)
        self.generate = _blocking(runner, resource.generate)
        self.rotate = _blocking(runner, resource.rotate)
        self.revoke = _blocking(runner, resource.revoke)
        self.update_permissions = _blocking(runner, resource.update_permissions)


class Auth:
    """``client.auth``: the endpoints of `yativo_async.AuthResource`, blocking."""

    def __init__(self, runner: _LoopThread, resource: AuthResource) -> None:
        self.with_raw_response = AuthRaw(runner, resource.with_raw_response)
        self.exchange_token = _blocking(runner, resource.exchange_token)
        self.token = _blocking(runner, resource.token)


async def _build(kwargs: ClientOptions, from_env: bool) -> AsyncYativoClient:
    # Built on the loop that will use it: a transport or Redis client may bind to it.
    if from_env:
        return AsyncYativoClient.from_env(**kwargs)
    return AsyncYativoClient(**kwargs)


def _abandon(runner: _LoopThread, client: AsyncYativoClient) -> None:
    """Rule 4: a facade collected unclosed: close its client and loop, waiting for nothing
    (a finalizer may run on any thread, the loop's own included)."""
    if runner.stopped:
        return

    async def close() -> None:
        try:
            await client.aclose()
        finally:
            runner.loop.stop()

    runner.stopped = True
    runner.loop.call_soon_threadsafe(lambda: runner.loop.create_task(close()))


class YativoClient:
    """The Yativo API client, blocking: for scripts and notebooks.

    Takes the keyword arguments of `yativo_async.YativoClient` and has the same endpoints
    (``api_keys``, ``auth``) as blocking methods that return the same models and raise the
    same errors. Sync hooks run on the facade's thread, async hooks on its loop.

    Raises:
        ValueError, TypeError: a bad argument, as the async client raises it.
    """

    def __init__(self, **kwargs: Unpack[ClientOptions]) -> None:
        self._init(kwargs, from_env=False)

    def _init(self, kwargs: ClientOptions, *, from_env: bool) -> None:
        runner = _LoopThread()
        try:
            client = runner.run(_build(kwargs, from_env))
        except BaseException:
            runner.stop()
            raise
        self._attach(runner, client, root=None)
        self._finalizer = weakref.finalize(self, _abandon, runner, client)

    def _attach(
        self, runner: _LoopThread, client: AsyncYativoClient, root: YativoClient | None
    ) -> None:
        self._runner = runner
        self._client = client
        #: the facade that owns the loop; ``None`` for that facade itself (a view keeps it
        #: alive, so its finalizer cannot stop the loop under the view)
        self._root = root
        self.api_keys = ApiKeys(runner, client.api_keys)
        self.auth = Auth(runner, client.auth)

    @classmethod
    def from_env(cls, **overrides: Unpack[ClientOptions]) -> YativoClient:
        """`yativo_async.YativoClient.from_env`, blocking."""
        self = cls.__new__(cls)
        self._init(overrides, from_env=True)
        return self

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> YativoClient:
        if self.closed:
            raise ClientClosedError("this YativoClient is closed; create a new one")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_wait: float | _Unset | None = _UNSET,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        priority: Literal["interactive", "batch"] | None = None,
    ) -> YativoClient:
        """`yativo_async.YativoClient.with_options`: a view with other per-call settings,
        sharing this client's loop, pool, limiter, token and stats. Closing the view closes
        only the view.

        Raises:
            ValueError, TypeError: a bad setting, before anything is sent.
            ClientClosedError: the client (or this view) is closed.
        """

        async def view() -> AsyncYativoClient:
            return self._client.with_options(
                timeout=timeout, max_wait=max_wait, retry=retry,
                extra_headers=extra_headers, priority=priority,
            )

        facade = YativoClient.__new__(YativoClient)
        facade._attach(self._runner, self._runner.run(view()), root=self._root or self)
        return facade

    def close(self, *, timeout: float | None = 0.0) -> None:
        """Close the client, stop its loop and join its thread (rule 4). Idempotent.
        ``timeout``: as `yativo_async.YativoClient.aclose`. On a `with_options` view:
        close only the view."""
        runner = self._runner
        if runner.stopped:
            return
        if self._root is not None:
            if not self._client.closed:
                runner.run(self._client.aclose())
            return
        self._finalizer.detach()
        try:
            runner.run(self._client.aclose(timeout=timeout))
        finally:
            runner.stop()

    @property
    def closed(self) -> bool:
        return self._runner.stopped or self._client.closed

    def __repr__(self) -> str:
        return f"sync.{self._client!r}"

    # -- introspection and control --------------------------------------------------------

    @property
    def async_client(self) -> AsyncYativoClient:
        """The async client behind the facade (use it only on the facade's loop)."""
        return self._client

    @property
    def stats(self) -> ClientStats:
        return self._client.stats

    @property
    def base_url(self) -> str:
        return self._client.base_url

    def rate_limit_status(self) -> list[WindowStatus]:
        """Per window: the budget left and when the next slot frees."""

        async def status() -> list[WindowStatus]:
            return self._client.rate_limit_status()

        return self._runner.run(status())

    def adopt_rate_limits(self, limits: Sequence[RateLimit]) -> None:
        """`yativo_async.YativoClient.adopt_rate_limits`."""

        async def adopt() -> None:
            self._client.adopt_rate_limits(limits)

        self._runner.run(adopt())

    def rotate_credentials(self, *, api_key: str | None = None, api_secret: SecretLike) -> None:
        """`yativo_async.YativoClient.rotate_credentials`, blocking."""
        self._runner.run(self._client.rotate_credentials(api_key=api_key, api_secret=api_secret))
