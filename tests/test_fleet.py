"""Real processes sharing one key through a real redis-server, single node and a real
3-node cluster on loopback: 0 server 429s, 1 token exchange; a killed worker's slots come
back within the lease; Redis Cluster works (hash tags: no CROSSSLOT)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

import yativo_async as y
from yativo_async._redis import RedisRateLimiter
from yativo_async.testing import FakeYativo


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_ports(n: int) -> list[int]:
    """``n`` free loopback ports whose cluster bus ports (port + 10000) are free too, and
    none of them another's bus port (two free ports 10000 apart clash)."""
    chosen: list[int] = []
    for p in _free_ports(40):
        taken = {q for c in chosen for q in (c, c + 10000)}
        if p + 10000 < 65536 and not {p, p + 10000} & taken and _bindable(p + 10000):
            chosen.append(p)
            if len(chosen) == n:
                return chosen
    raise AssertionError("no free loopback ports for a cluster")


def _start_cluster(server: str, cli: str, workdir: str) -> tuple[list[int], list[subprocess.Popen[bytes]]]:
    """Three primaries on loopback, joined; their processes are returned (and killed on a
    failure before raising)."""
    ports = _cluster_ports(3)
    procs = [
        subprocess.Popen(
            [server, "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", f"{workdir}/nodes-{p}.conf", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    try:
        for p in ports:
            deadline = time.monotonic() + 10
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", p)) == 0:
                        break
                assert time.monotonic() < deadline, "redis-server (cluster) did not start"
                time.sleep(0.01)
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
        )
        deadline = time.monotonic() + 15
        while True:
            states = [subprocess.run([cli, "-p", str(p), "cluster", "info"], check=True,
                                     capture_output=True, text=True, timeout=5).stdout
                      for p in ports]
            if all("cluster_state:ok" in st for st in states):
                return ports, procs
            assert time.monotonic() < deadline, "the cluster did not reach state ok"
            time.sleep(0.05)
    except BaseException:
        _stop(procs)
        raise


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="session")
def cluster_url() -> Iterator[str]:
    """A real 3-node Redis Cluster (3 primaries, no replicas) on loopback ports."""
    server = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if server is None or cli is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server and redis-cli are needed for the cluster tests")
        pytest.skip("the cluster tests need redis-server and redis-cli "
                    f"(missing: {'redis-server' if server is None else 'redis-cli'})")
    workdir = tempfile.mkdtemp(prefix="yvcluster")
    try:
        # A port taken by another process between the check and the start: a new set.
        for attempt in range(3):
            try:
                ports, procs = _start_cluster(server, cli, workdir)
                break
            except (AssertionError, subprocess.SubprocessError):
                if attempt == 2:
                    raise
                for name in os.listdir(workdir):
                    os.unlink(os.path.join(workdir, name))
        try:
            yield f"redis+cluster://127.0.0.1:{ports[0]}"
        finally:
            _stop(procs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# -- cluster -------------------------------------------------------------------------------


async def test_the_limiter_runs_on_a_cluster_without_crossslot(cluster_url: str) -> None:
    cluster = aioredis.RedisCluster.from_url(cluster_url.replace("redis+cluster", "redis"))
    try:
        # several budgets: their keys land on different nodes, each budget's in one slot
        limiters = [RedisRateLimiter(cluster, f"cl-{i}", [y.RateLimit(3, 0.3),
                                                          y.RateLimit(50, 60.0)],
                                     interactive_reserve=0.3)
                    for i in range(6)]
        loop = asyncio.get_running_loop()
        for limiter in limiters:
            t0 = loop.time()
            for _ in range(4):  # the 4th waits for the 0.3 s window
                (await limiter.acquire()).release()
            assert loop.time() - t0 >= 0.25
            (await limiter.acquire(lane="batch")).release()
            status = await limiter.status_async()
            assert status[1].used == 5
        slots = {await cluster.cluster_keyslot(f"yativo:rl:{{cl-{i}}}:w300") for i in range(6)}
        assert len(slots) > 1  # spread over the cluster, not one hot slot
        for limiter in limiters:
            await limiter.aclose()
    finally:
        await cluster.aclose()


async def test_one_token_exchange_through_a_cluster_url(cluster_url: str) -> None:
    fake = FakeYativo(rate_limits=[])
    key = fake.add_key()
    fake.set_faults("token", latency=0.05)
    clients = [
        y.YativoClient(api_key=key.api_key, api_secret=key.api_secret,
                       transport=fake.transport(), rate_limits=[y.RateLimit(100, 1.0)],
                       redis=cluster_url)
        for _ in range(3)
    ]
    await asyncio.gather(*(c.api_keys.list() for c in clients for _ in range(10)))
    assert fake.token_exchanges == 1
    for c in clients:
        await c.aclose()


# -- real processes ------------------------------------------------------------------------

WORKER = """
import asyncio, json, sys
import yativo_async as y

async def main(base_url, api_key, api_secret, redis_url, calls, limit, period):
    async with y.YativoClient(api_key=api_key, api_secret=api_secret, base_url=base_url,
                              rate_limits=[y.RateLimit(int(limit), float(period))],
                              redis=redis_url) as client:
        await asyncio.gather(*(client.api_keys.list() for _ in range(int(calls))))
        print(json.dumps(client.stats.as_dict()))

asyncio.run(main(*sys.argv[1:8]))
"""


@pytest.mark.parametrize("where", ["single node", "3-node cluster"])
async def test_8_processes_x_100_calls_0_429s_1_exchange(
    where: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url" if where == "single node" else "cluster_url")
    # 800 calls through windows of 100 per 0.25 s (a scaled minute): 8 windows' worth.
    limit, period = 100, 0.25
    async with FakeYativo(rate_limits=[y.RateLimit(limit, period)], seed=8) as fake:
        fake.set_faults(latency=0.002, jitter=0.01)
        key = fake.add_key()
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", WORKER, fake.base_url, key.api_key, key.api_secret,
                url, "100", str(limit), str(period), stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(8)
        ]
        outputs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    stats = [json.loads(out) for out, _ in outputs]
    assert fake.count("status:429") == 0
    assert fake.token_exchanges == 1
    assert sum(s["token_exchanges"] for s in stats) == 1
    assert fake.count("status:200") == 800 + 1  # the calls and the one exchange


HOLDER = """
import asyncio, sys
import yativo_async as y
from yativo_async._redis import RedisRateLimiter

async def main(url):
    limiter = RedisRateLimiter(url, "killed", [y.RateLimit(5, 0.2)], lease=2.0, grace=0.2)
    for _ in range(5):
        await limiter.acquire()  # five calls in flight...
    print("held", flush=True)
    await asyncio.sleep(3600)  # ...when the worker is killed

asyncio.run(main(sys.argv[1]))
"""


async def test_a_killed_worker_s_budget_comes_back_within_the_lease(redis_url: str) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLDER, redis_url,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"held"
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    other = RedisRateLimiter(redis_url, "killed", [y.RateLimit(5, 0.2)], lease=2.0)
    # The dead worker's five slots still count (their 2 s lease runs)...
    assert (await other.status_async())[0].used == 5
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    slot = await asyncio.wait_for(other.acquire(), 10.0)
    waited = loop.time() - t0
    slot.release()
    await other.aclose()
    # ...and come back once the lease and the window have passed: seconds, not the 10
    # minutes a 600 s lease kept them (the bound is far from both).
    assert waited < 2.0 + 0.2 + 2.0
