"""The README's web-app and batch examples, run as written against `FakeYativo`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from yativo_async.testing import FakeYativo

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def readme_block(heading: str) -> str:
    """The first ```python block after ``heading``."""
    start = README.index(heading)
    match = re.search(r"```python\n(.*?)```", README[start:], re.DOTALL)
    assert match, heading
    return match.group(1)


async def test_fastapi_example_answers_a_client_side_rate_limit_with_429_and_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    async with FakeYativo() as fake:  # the documented 60 a minute, like the client
        for var in ("YATIVO_API_KEY", "YATIVO_API_SECRET", "YATIVO_TOTP_SECRET", "YATIVO_LOG",
                    "YATIVO_REDIS_URL"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("YATIVO_ACCESS_TOKEN", fake.access_token)
        monkeypatch.setenv("YATIVO_BASE_URL", fake.base_url)
        namespace: dict[str, Any] = {}
        exec(compile(readme_block("### A web app"), "README.md", "exec"), namespace)
        app = namespace["app"]
        async with namespace["lifespan"](app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                answers = [await http.get("/keys") for _ in range(61)]
    assert [a.status_code for a in answers] == [200] * 60 + [429]
    assert answers[0].json() == []
    limited = answers[60]
    assert int(limited.headers["retry-after"]) >= 1
    assert "rate limited" in limited.json()["detail"]
    assert fake.count("status:429") == 0  # the client kept to the budget: nothing was sent


def test_batch_example_mentions_the_pace() -> None:
    section = README[README.index("### A batch job"):README.index("### A bot that runs")]
    assert "5,000 calls take about 83 minutes" in section
    assert "as_completed" in section and "rate_limit_status()" in section


@pytest.mark.looptime
async def test_batch_example_runs_at_the_documented_pace_in_virtual_time(
    fake: FakeYativo,
) -> None:
    import asyncio
    import textwrap
    import types

    import yativo_async as y

    keys = [fake.add_key(f"k{i}", ["read"]) for i in range(3)]
    ids = [keys[i % 3].id for i in range(150)]
    printed: list[str] = []

    class Client(y.YativoClient):
        @classmethod
        def from_env(cls, **overrides: Any) -> y.YativoClient:
            # The environment the README assumes, reached without a socket.
            return y.YativoClient(access_token=fake.access_token,
                                  transport=fake.transport(), **overrides)

    shim = types.SimpleNamespace(YativoClient=Client, YativoError=y.YativoError)
    body = "async def run():\n" + textwrap.indent(readme_block("### A batch job"), "    ")
    namespace: dict[str, Any] = {"y": shim, "asyncio": asyncio, "ids": ids,
                                 "print": lambda *a: printed.append(" ".join(map(str, a)))}
    exec(compile(body, "README.md", "exec"), namespace)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await namespace["run"]()
    took = loop.time() - started
    # 150 calls at 60 a minute: the 61st and 121st wait for the window to slide.
    assert 120 <= took < 180
    assert printed[0].startswith("100/150 done, next slot in")
    assert "'succeeded': 150" in printed[-1]
    assert fake.count("status:429") == 0
