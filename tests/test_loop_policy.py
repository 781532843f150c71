"""The suite runs on the loop it was asked for (`--loop uvloop` in the nox uvloop session)."""

from __future__ import annotations

import asyncio

import pytest


async def test_tests_run_on_the_chosen_loop(pytestconfig: pytest.Config) -> None:
    loop = asyncio.get_running_loop()
    if pytestconfig.getoption("--loop") == "uvloop":
        import uvloop

        assert isinstance(loop, uvloop.Loop)
    else:
        assert isinstance(loop, asyncio.BaseEventLoop)
