"""The single-flight token provider: one test (at least) per rule R1-R12 of `_auth.py`."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from typing import Any

import pytest

import yativo_async as y
from yativo_async.testing import FakeYativo


class TokenServer:
    """A MockTransport handler: a token endpoint we can slow down, break or hang, and an
    API endpoint that accepts only the tokens it issued and has not revoked."""

    def __init__(self, ttl: int = 3600) -> None:
        self.ttl = ttl
        self.delay = 0.0
        self.fail_status: int | None = None
        self.hang = False
        self.always_401 = False
        self.exchanges = 0
        self.valid: set[str] = set()
        self.sent_tokens: list[str] = []
        self.api_delay = 0.0

    async def __call__(self, request: y.Request) -> y.Response:
        if request.url.endswith("/apikey/token"):
            self.exchanges += 1
            if self.hang:
                await asyncio.sleep(10_000)
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.fail_status is not None:
                return y.Response(status=self.fail_status, body=b'{"message": "nope"}')
            body = json.loads(request.body or b"{}")
            if body.get("api_secret") != "right":
                return y.Response(status=401, body=b'{"message": "Invalid API credentials"}')
            token = f"tok{self.exchanges}"
            self.valid.add(token)
            return y.Response(status=200, body=json.dumps(
                {"access_token": token, "expires_in": self.ttl, "token_type": "Bearer"}).encode())
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.sent_tokens.append(token)
        await asyncio.sleep(self.api_delay)
        if self.always_401 or token not in self.valid:
            return y.Response(status=401, body=b'{"message": "Unauthenticated"}')
        return y.Response(status=200, body=b'{"keys": []}')


def client_for(server: TokenServer, secret: str = "right", **kw: Any) -> y.YativoClient:
    kw.setdefault("rate_limits", [])
    kw.setdefault("retry", y.RetryPolicy(max_attempts=1))
    return y.YativoClient(api_key="yvk_live_1", api_secret=secret,
                          transport=y.MockTransport(server), **kw)


def provider(client: y.YativoClient) -> y.ExchangeTokenProvider:
    tokens = client.token_provider
    assert isinstance(tokens, y.ExchangeTokenProvider)
    return tokens


# R1 ------------------------------------------------------------------------------------

async def test_r1_fresh_token_returns_without_suspending() -> None:
    server = TokenServer()
    async with client_for(server) as client:
        await client.api_keys.list()
        coro = provider(client).get_token()
        with pytest.raises(StopIteration) as done:
            coro.send(None)  # runs to completion in one step: no await, no lock
        assert done.value.value.value.get_secret_value() == "tok1"


# R2 ------------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_r2_thousand_cold_calls_one_exchange_against_fake() -> None:
    fake = FakeYativo(rate_limits=[])
    key = fake.add_key()
    fake.set_faults(latency=0.05)
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), rate_limits=[]) as client:
        await asyncio.gather(*(client.api_keys.list() for _ in range(1000)))
        assert fake.token_exchanges == 1
        assert client.stats.tokens.refreshes == {"cold": 1}
        # expiry: every caller past the deadline joins one flight
        await asyncio.sleep(3600)
        await asyncio.gather(*(client.api_keys.list() for _ in range(200)))
        assert fake.token_exchanges == 2
        assert fake.count("status:401") == 0


async def test_r2_concurrent_forced_refreshes_share_one_flight() -> None:
    server = TokenServer()
    server.delay = 0.01
    async with client_for(server) as client:
        tokens = await asyncio.gather(*(provider(client).refresh() for _ in range(20)))
        assert server.exchanges == 1
        assert len({t.generation for t in tokens}) == 1


# R3 ------------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_r3_cancelling_the_initiator_cancels_only_itself() -> None:
    server = TokenServer()
    server.delay = 1.0
    async with client_for(server) as client:
        first = asyncio.create_task(client.api_keys.list())
        await asyncio.sleep(0.1)  # first started the flight
        others = [asyncio.create_task(client.api_keys.list()) for _ in range(99)]
        await asyncio.sleep(0.1)
        first.cancel()
        results = await asyncio.gather(*others)
        assert results == [[]] * 99
        assert first.cancelled()
        assert server.exchanges == 1


@pytest.mark.looptime
async def test_r3_result_cached_even_if_every_waiter_left() -> None:
    server = TokenServer()
    server.delay = 1.0
    async with client_for(server) as client:
        tasks = [asyncio.create_task(provider(client).get_token()) for _ in range(5)]
        await asyncio.sleep(0.1)
        for t in tasks:
            t.cancel()
        await asyncio.sleep(2)
        assert provider(client).current is not None
        await client.api_keys.list()
        assert server.exchanges == 1


@pytest.mark.looptime
async def test_r3_only_aclose_cancels_a_flight() -> None:
    server = TokenServer()
    server.hang = True
    client = client_for(server)
    task = asyncio.create_task(client.api_keys.list())
    await asyncio.sleep(1)
    flight = provider(client)._flight
    assert flight is not None
    await client.aclose()
    assert flight.done()  # ended by the close (its own call got ClientClosedError)
    with pytest.raises(y.ClientClosedError):
        await task  # the waiter gets the clear error, never a bare CancelledError


# R4 ------------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_r4_hung_endpoint_fails_all_waiters_together() -> None:
    server = TokenServer()
    server.hang = True
    async with client_for(server) as client:
        provider(client)._timeout = 5.0
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        results = await asyncio.gather(*(client.api_keys.list() for _ in range(10)),
                                       return_exceptions=True)
        assert all(isinstance(r, y.TokenUnavailableError) for r in results)
        assert "timed out" in str(results[0])
        assert loop.time() - t0 == pytest.approx(5.0, abs=0.01)
        assert server.exchanges == 1


# R5 ------------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_r5_error_reaches_every_waiter_as_its_own_object_and_is_not_cached() -> None:
    server = TokenServer()
    server.delay = 0.1
    server.fail_status = 500
    async with client_for(server) as client:
        results = await asyncio.gather(*(client.api_keys.list() for _ in range(10)),
                                       return_exceptions=True)
        assert all(isinstance(r, y.ServerError) for r in results)
        assert len({id(r) for r in results}) == 10  # each its own object
        causes = {id(r.__cause__) for r in results}
        assert len(causes) == 1  # all chained from the one shared failure
        assert server.exchanges == 1
        server.fail_status = None
        await asyncio.sleep(60)  # past the backoff
        assert await client.api_keys.list() == []  # the failure was not cached
        assert server.exchanges == 2


async def test_r5_bad_secret_is_authentication_error_at_once() -> None:
    server = TokenServer()
    async with client_for(server, secret="wrong", retry=y.RetryPolicy()) as client:
        with pytest.raises(y.AuthenticationError, match="Invalid API credentials"):
            await client.api_keys.list()
        assert server.exchanges == 1  # not retried
        with pytest.raises(y.AuthenticationError):  # during the backoff: at once
            await client.api_keys.list()
        assert server.exchanges == 1


# R6 ------------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_r6_two_deadlines() -> None:
    server = TokenServer(ttl=3600)
    async with client_for(server) as client:
        tokens = provider(client)
        first = await tokens.get_token()
        assert first.refresh_at == pytest.approx(first.expires_at - 660)  # 0.8 * 3600
        await asyncio.sleep(first.refresh_at - asyncio.get_running_loop().time() + 1)
        server.fail_status = 503
        served = await tokens.get_token()
        assert served is first  # served at once
        await asyncio.sleep(0.01)
        assert server.exchanges == 2  # one background refresh...
        assert tokens.current is first  # ...whose failure is tolerated
        for _ in range(10):
            assert await tokens.get_token() is first
        assert server.exchanges == 2  # no new attempt during the backoff
        server.fail_status = None
        assert first.expires_at is not None
        await asyncio.sleep(first.expires_at - asyncio.get_running_loop().time())
        new = await tokens.get_token()  # past the hard deadline: waits for a flight
        assert new is not first
        assert server.exchanges == 3
        assert client.stats.tokens.refreshes == {"cold": 1, "early": 1, "expiry": 1}


# R7 ------------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_r7_lifetime_counts_from_when_the_exchange_was_sent() -> None:
    server = TokenServer(ttl=3600)
    server.delay = 10.0
    async with client_for(server) as client:
        t_sent = asyncio.get_running_loop().time()
        token = await provider(client).get_token()
        assert token.expires_at == pytest.approx(t_sent + 3600 - 60)


# R8 ------------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_r8_short_tokens_do_not_cause_an_exchange_per_request() -> None:
    server = TokenServer(ttl=30)
    async with client_for(server) as client:
        token = await provider(client).get_token()
        now = asyncio.get_running_loop().time()
        assert token.expires_at is not None
        assert token.expires_at - now == pytest.approx(15)  # margin capped at half
        assert token.refresh_at is not None
        assert token.refresh_at > now  # never stale when issued
        for _ in range(100):
            await client.api_keys.list()
            await asyncio.sleep(0.1)  # 10 s of traffic
        assert server.exchanges == 1


@pytest.mark.looptime
@pytest.mark.parametrize("ttl", [1, 0, -5])
async def test_r8_a_token_stale_on_arrival_is_sent_not_exchanged_for_ever(ttl: int) -> None:
    # The token's usable life (half of a 1 s lifetime; 0 and negative are read as 1 s) is
    # over before its 0.6 s exchange returns. The call sends it (the server judges it)
    # instead of handing the slot back and exchanging again without end: a token already
    # stale when it came cannot be helped by another exchange.
    server = TokenServer(ttl=ttl)
    server.delay = 0.6
    async with client_for(server, timeout=5.0) as client:
        assert await asyncio.wait_for(client.api_keys.list(), 60) == []
    assert server.exchanges == 1
    assert server.sent_tokens == ["tok1"]


# R9 ------------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_r9_failing_endpoint_sees_a_handful_of_exchanges() -> None:
    server = TokenServer()
    server.fail_status = 503
    async with client_for(server) as client:
        loop = asyncio.get_running_loop()
        end = loop.time() + 5.0
        failures = 0

        async def worker() -> None:
            nonlocal failures
            while loop.time() < end:
                try:
                    await client.api_keys.list()
                except y.YativoError:
                    failures += 1
                await asyncio.sleep(0.01)

        await asyncio.gather(*(worker() for _ in range(100)))
        assert failures > 10_000  # callers failed fast, not one exchange each
        assert server.exchanges <= 8


# R10 -----------------------------------------------------------------------------------

async def test_r10_late_401_for_an_old_token_keeps_the_new_one() -> None:
    server = TokenServer()
    async with client_for(server) as client:
        tokens = provider(client)
        old = await tokens.get_token()
        new = await tokens.refresh()
        tokens.invalidate(old)  # a late 401 for the old token
        assert tokens.current is new
        tokens.invalidate(new)
        assert tokens.current is None


@pytest.mark.looptime
async def test_r10_revoked_token_refreshes_once_and_replays_once() -> None:
    server = TokenServer()
    server.api_delay = 0.01  # all twenty are on the wire with the old token at once
    async with client_for(server) as client:
        await client.api_keys.list()
        server.valid.clear()  # the server forgets the token
        results = await asyncio.gather(*(client.api_keys.list() for _ in range(20)))
        assert results == [[]] * 20
        assert server.exchanges == 2
        assert client.stats.auth_replays == 20
        assert client.stats.tokens.refreshes["401"] == 1


# R11 -----------------------------------------------------------------------------------

async def test_r11_always_401_costs_one_replay_per_request_and_no_churn() -> None:
    server = TokenServer()
    async with client_for(server) as client:
        await client.api_keys.list()
        server.always_401 = True
        for _ in range(30):
            with pytest.raises(y.AuthenticationError):
                await client.api_keys.list()
        assert server.exchanges == 2  # the cold one and one after the first 401
        assert len(server.sent_tokens) == 1 + 30 * 2  # one replay per request


# R12 -----------------------------------------------------------------------------------

@pytest.mark.looptime
async def test_r12_no_task_exception_never_retrieved() -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        server = TokenServer()
        server.delay = 1.0
        server.fail_status = 500
        async with client_for(server) as client:
            tasks = [asyncio.create_task(provider(client).get_token()) for _ in range(3)]
            await asyncio.sleep(0.1)
            for t in tasks:
                t.cancel()  # everybody leaves; the flight fails with no one waiting
            await asyncio.sleep(2)
        del tasks
        gc.collect()
        await asyncio.sleep(0)
        assert seen == []
    finally:
        loop.set_exception_handler(None)


# Credentials that change while the client runs -----------------------------------------

async def test_rotate_own_key_adopts_new_secret() -> None:
    fake = FakeYativo()
    key = fake.add_key()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), two_factor=fake.totp_secret) as bot:
        await bot.api_keys.list()
        rotated = await bot.api_keys.rotate(key.id)
        assert rotated.api_secret.get_secret_value() == fake.keys[key.id].api_secret
        await provider(bot).refresh()  # the next exchange uses the new secret
        assert await bot.api_keys.list() != []
    assert fake.count("token_exchange_failures") == 0


async def test_rotate_credentials_swaps_atomically() -> None:
    server = TokenServer()
    async with client_for(server, secret="wrong") as client:
        with pytest.raises(y.AuthenticationError):
            await client.api_keys.list()
        await client.rotate_credentials(api_secret=y.Secret("right"))
        assert await client.api_keys.list() == []  # no wait for the old backoff
    static = y.YativoClient(access_token="t")
    with pytest.raises(TypeError):
        await static.rotate_credentials(api_secret="x")


async def test_custom_token_provider() -> None:
    class Vault:
        def __init__(self) -> None:
            self.invalidated: list[y.BearerToken] = []

        async def get_token(self) -> y.BearerToken:
            return y.BearerToken(y.Secret("tok1"))

        def invalidate(self, token: y.BearerToken) -> None:
            self.invalidated.append(token)

        async def aclose(self) -> None:
            return None

    server = TokenServer()
    server.valid.add("tok1")
    vault = Vault()
    async with y.YativoClient(token_provider=vault, transport=y.MockTransport(server)) as c:
        assert await c.api_keys.list() == []
        server.valid.clear()
        with pytest.raises(y.AuthenticationError):
            await c.api_keys.list()
    assert len(vault.invalidated) == 1


# The bot: 3 days, hourly tokens --------------------------------------------------------

@pytest.mark.looptime
async def test_three_day_bot_never_sends_an_expired_token() -> None:
    fake = FakeYativo(token_ttl=3600)
    key = fake.add_key()
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport()) as bot:
        for _ in range(3 * 24 * 60):  # one call a minute for three days
            await bot.api_keys.list()
            await asyncio.sleep(60)
    assert fake.count("status:401") == 0
    assert fake.count("status:429") == 0
    assert 72 <= fake.token_exchanges <= 95


@pytest.mark.looptime
async def test_r4_client_bounds_each_send_with_the_request_timeout() -> None:
    server = TokenServer()
    server.hang = True
    async with client_for(server, timeout=5.0) as client:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        results = await asyncio.gather(*(client.api_keys.list() for _ in range(10)),
                                       return_exceptions=True)
        assert all(isinstance(r, y.APITimeoutError) for r in results)
        assert loop.time() - t0 == pytest.approx(5.0, abs=0.01)  # all together
        assert server.exchanges == 1


@pytest.mark.looptime
async def test_waiting_for_budget_is_not_an_exchange_timeout() -> None:
    server = TokenServer(ttl=300)  # expires (with its margin) at t=240
    async with client_for(server, rate_limits=[y.RateLimit(2, 600.0)]) as client:
        await client.api_keys.list()  # t=0: the exchange and the call take both slots
        await asyncio.sleep(250)
        assert await client.api_keys.list() == []  # the exchange waited ~350 s for budget
        assert asyncio.get_running_loop().time() == pytest.approx(600.0)
        assert server.exchanges == 2
        assert client.stats.tokens.failures == 0


@pytest.mark.looptime
async def test_a_call_waits_for_a_token_no_longer_than_its_own_timeout() -> None:
    # The exchange hangs (bounded only by the client's 10 s and its retries); a call with
    # timeout=1 and no retries ends after 1 s, nothing sent; the exchange goes on for
    # the calls that wait longer.
    server = TokenServer()
    server.hang = True
    loop = asyncio.get_running_loop()
    async with client_for(server, timeout=10.0) as client:
        start = loop.time()
        with pytest.raises(y.APITimeoutError) as info:
            await client.with_options(timeout=1.0).api_keys.list()
        assert loop.time() - start == pytest.approx(1.0, abs=0.01)
        assert info.value.maybe_sent is False
        assert "token" in str(info.value)
        assert server.exchanges == 1 and server.sent_tokens == []
        assert provider(client)._flight is not None  # still running for the others


# -- the token path: doc 002's /apikey/token or doc 000's /auth/token -----------------------


class OnePathServer:
    """A server with the token exchange at ``path`` only (404 elsewhere), and a key list."""

    def __init__(self, path: str, *, missing: int = 404, answer: int = 200) -> None:
        self.path, self.missing, self.answer = path, missing, answer
        self.paths: list[str] = []

    def __call__(self, request: y.Request) -> y.Response:
        path = "/" + request.url.split("/api/", 1)[1]
        self.paths.append(path)
        if path.endswith("/token") and path != self.path:
            return y.Response(status=self.missing, body=b'{"message": "Route not found"}')
        if path == self.path:
            if self.answer != 200:
                return y.Response(status=self.answer, body=b'{"message": "Invalid API key"}')
            body = {"access_token": f"tok_{len(self.paths)}", "expires_in": 3600}
            return y.Response(status=200, body=json.dumps(body).encode())
        return y.Response(status=200, body=b'{"keys": []}')


def _keyed(server: OnePathServer, **kwargs: Any) -> y.YativoClient:
    return y.YativoClient(api_key="yvk_1", api_secret="yvs_1", rate_limits=[],
                          transport=y.MockTransport(server), **kwargs)


@pytest.mark.parametrize(("only", "first"), [("/auth/token", "/apikey/token"),
                                             ("/apikey/token", "/auth/token")])
@pytest.mark.parametrize("missing", [404, 405])
async def test_the_token_path_the_server_has_is_found_once_and_kept(
    only: str, first: str, missing: int
) -> None:
    server = OnePathServer(only, missing=missing)
    async with _keyed(server) as client:  # no token_path given: the SDK's to find
        client.token_path = first  # (the default is /apikey/token; try either end)
        view = client.with_options(timeout=5)
        assert await view.api_keys.list() == []
        assert client.token_path == only
        await client.auth.exchange_token()  # next time: straight there
    assert server.paths == [first, only, "/apikey/list", only]


async def test_a_token_path_given_is_the_only_one_tried() -> None:
    server = OnePathServer("/auth/token")
    async with _keyed(server, token_path="/apikey/token") as client:
        with pytest.raises(y.NotFoundError, match="Route not found"):
            await client.api_keys.list()
    assert server.paths == ["/apikey/token"]


async def test_no_token_path_on_the_server_is_the_first_paths_error() -> None:
    server = OnePathServer("/oauth/token")
    async with _keyed(server) as client:
        with pytest.raises(y.NotFoundError) as info:
            await client.api_keys.list()
        assert client.token_path == "/apikey/token"
    assert server.paths == ["/apikey/token", "/auth/token"]
    assert info.value.status == 404


async def test_only_a_token_from_the_other_path_makes_the_client_switch() -> None:
    # A 404 on /apikey/token may be "API key not found" and a 401 on /auth/token an auth
    # layer refusing any route: neither proves /auth/token is the server's. The first
    # path's error is the answer, and the path stays.
    server = OnePathServer("/auth/token", answer=401)
    async with _keyed(server) as client:
        with pytest.raises(y.NotFoundError, match="Route not found"):
            await client.api_keys.list()
        assert client.token_path == "/apikey/token"
    assert server.paths == ["/apikey/token", "/auth/token"]


# -- long queues and tokens that expire in them ------------------------------------------


@pytest.mark.looptime
async def test_a_queue_longer_than_a_token_lives_sends_no_expired_token() -> None:
    # 30 calls on 10 per hour with 15-minute tokens: most wait hours for budget. Each is
    # sent with a live token (no 401s, nothing fails), comes back to the front of the queue
    # after a refresh (the pace stays 10 per hour), and each refresh is one exchange.
    limits = [y.RateLimit(10, 3600.0)]
    fake = FakeYativo(token_ttl=900, rate_limits=limits, seed=5)
    key = fake.add_key("bot", ["read"])
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), rate_limits=limits) as client:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        results = await asyncio.gather(*(client.api_keys.list() for _ in range(30)),
                                       return_exceptions=True)
        elapsed = loop.time() - t0
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert fake.count("status:401") == 0 and fake.count("status:429") == 0
    # 30 lists and the exchanges share 10 an hour: the lists end within the 4th hour
    assert elapsed < 4 * 3600
    assert fake.token_exchanges <= 5


@pytest.mark.looptime
async def test_a_views_max_wait_bounds_the_wait_for_a_token_queued_for_budget() -> None:
    # The client waits for budget as long as it takes (a batch job shares it); a request
    # handler's view says max_wait=1. The hour's budget is spent and the token expired: the
    # exchange the call needs queues for budget under the client's settings, but the
    # view's call fails at once with the wait it would face.
    limits = [y.RateLimit(100, 3600.0)]
    fake = FakeYativo(token_ttl=600, rate_limits=limits, seed=1)
    key = fake.add_key("app", ["read"])
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), rate_limits=limits) as client:
        await asyncio.gather(*(client.api_keys.list() for _ in range(99)))
        await asyncio.sleep(700)  # the token expired; budget back only at t = 3,600
        web = client.with_options(max_wait=1.0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(y.RateLimitError) as info:
            await web.api_keys.list()
        assert loop.time() - t0 <= 1.0
        assert info.value.from_client
        assert info.value.retry_after is not None and info.value.retry_after > 2000
        # the exchange goes on for the calls that wait: a plain call gets its token
        assert len(await client.api_keys.list()) == 1
    assert fake.count("status:401") == 0


@pytest.mark.looptime
async def test_time_the_exchange_queued_for_budget_is_not_counted_against_timeout() -> None:
    # The hour's budget is spent at t = 0 and the token expires at t = 300: the exchange
    # queues for budget until t = 3,600, then takes 1 s on the network. Calls waiting for it
    # with the default 30 s timeout: the one whose 30 s ran out during that second (it came
    # at 3,570.5) timed out, though the exchange had been on the network for half a second.
    server = TokenServer(ttl=600)
    limits = [y.RateLimit(5, 3600.0)]
    async with client_for(server, rate_limits=limits) as client:
        for _ in range(4):
            await client.api_keys.list()  # with the exchange: 5 of the hour's 5
        server.delay = 1.0
        loop = asyncio.get_running_loop()

        async def call_at(when: float) -> list[y.ApiKey]:
            await asyncio.sleep(when - loop.time())
            return await client.api_keys.list()

        results = await asyncio.gather(*(call_at(t) for t in (700.0, 2200.0, 3570.5)),
                                       return_exceptions=True)
    assert results == [[], [], []]
    assert server.exchanges == 2


@pytest.mark.looptime
async def test_a_callers_own_cancel_stays_a_cancelled_error_when_close_comes_too() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("Python 3.10 cannot tell two cancels apart (Task.cancelling)")
    server = TokenServer()
    server.api_delay = 10.0
    client = client_for(server)
    handler = asyncio.ensure_future(client.api_keys.list())
    await asyncio.sleep(0.01)  # in flight
    handler.cancel()  # the handler's own client left...
    await client.aclose()  # ...and the app shuts down in the same loop iteration
    with pytest.raises(asyncio.CancelledError):
        await handler
    # close's own cancel alone is still ClientClosedError
    client = client_for(server)
    call = asyncio.ensure_future(client.api_keys.list())
    await asyncio.sleep(0.01)
    await client.aclose()
    with pytest.raises(y.ClientClosedError):
        await call


@pytest.mark.looptime
async def test_calls_waiting_on_an_old_pair_exchange_get_the_new_pairs_token() -> None:
    # The token expired; 100 calls wait on an exchange made with the old secret (2 s on the
    # network). Meanwhile an operator rotates the key and the bot is given the new secret:
    # the old pair's refusal says nothing about the new one, which is tried at once for
    # every waiting call (they failed with AuthenticationError).
    fake = FakeYativo(token_ttl=600, rate_limits=[], seed=1)
    key = fake.add_key("bot", ["read"])
    async with y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                              transport=fake.transport(), rate_limits=[]) as bot, \
            y.YativoClient(access_token=fake.access_token, two_factor=fake.totp_secret,
                           transport=fake.transport(), rate_limits=[]) as ops:
        await bot.api_keys.list()
        await asyncio.sleep(600)  # the token expired
        fake.set_faults("token", latency=2.0)
        calls = [asyncio.ensure_future(bot.api_keys.list()) for _ in range(100)]
        await asyncio.sleep(0.5)  # the exchange (old secret) is on its way
        rotated = await ops.api_keys.rotate(key.id)  # the old secret is dead now
        await bot.rotate_credentials(api_secret=rotated.api_secret)
        results = await asyncio.gather(*calls, return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert fake.token_exchanges == 2  # the first token, and the new pair's


@pytest.mark.looptime
async def test_a_calls_timeout_bounds_its_wait_for_an_exchange_being_retried() -> None:
    # Each exchange attempt takes 0.8 s and gets a 503 (the client retries it): the view's
    # timeout=1 counts the network time of every attempt, not each one afresh.
    attempts = 0

    async def server(request: y.Request) -> y.Response:
        nonlocal attempts
        if request.url.endswith("/token"):
            attempts += 1
            await asyncio.sleep(0.8)
            return y.Response(status=503, body=b'{"message": "busy"}')
        return y.Response(status=200, body=b'{"keys": []}')

    client = y.YativoClient(api_key="yvk_live_x", api_secret="yvs_live_y", rate_limits=[],
                            transport=y.MockTransport(server),
                            retry=y.RetryPolicy(max_attempts=6, backoff_base=0.05,
                                                backoff_max=0.1, max_elapsed=60))
    async with client:
        view = client.with_options(timeout=1.0, retry=y.RetryPolicy(max_attempts=1))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(y.APITimeoutError):
            await view.api_keys.list()
        assert loop.time() - t0 == pytest.approx(1.0)
    assert attempts == 2


@pytest.mark.looptime
async def test_batch_calls_whose_tokens_expired_in_the_queue_keep_their_lane() -> None:
    # 30 batch calls on 4 a second with half reserved for interactive ones, tokens that
    # live 3 s: calls whose token went stale in the queue stay batch calls. They never take
    # the reserve, and an interactive call does not wait behind them.
    loop = asyncio.get_running_loop()
    sent: list[tuple[float, str]] = []

    async def server(request: y.Request) -> y.Response:
        if request.url.endswith("/token"):
            return y.Response(status=200, body=b'{"access_token": "t%d", "expires_in": 3}'
                              % len(sent))
        sent.append((loop.time(), request.headers.get("X-Lane", "?")))
        return y.Response(status=200, body=b'{"keys": []}')

    async with y.YativoClient(api_key="yvk_live_k", api_secret="s",
                              transport=y.MockTransport(server),
                              rate_limits=[y.RateLimit(4, 1.0)], interactive_reserve=0.5) as c:
        batch = c.with_options(priority="batch", extra_headers={"X-Lane": "batch"})
        jobs = [asyncio.ensure_future(batch.api_keys.list()) for _ in range(30)]
        await asyncio.sleep(4.0)
        t0 = loop.time()
        await c.with_options(extra_headers={"X-Lane": "interactive"}).api_keys.list()
        assert loop.time() - t0 < 0.5
        await asyncio.gather(*jobs)
    stamps = [t for t, lane in sent if lane == "batch"]
    assert max(sum(1 for s in stamps if a <= s < a + 1.0) for a in stamps) <= 2
