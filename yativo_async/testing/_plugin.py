"""pytest plugin (entry point ``pytest11``): the ``fake_yativo`` and ``yativo_client``
fixtures, ready for a user's own tests.

``fake_yativo`` is a `FakeYativo` serving on a loopback port; ``yativo_client`` is a
`YativoClient` pointed at it with the fake's user token and TOTP secret. Both need
pytest-asyncio; without it the plugin defines nothing (and breaks nothing).

Both keep the documented limits, 60 requests a minute: 5,000 calls through them take about
83 minutes of real time. For volume, build ``FakeYativo(rate_limits=[])`` and
``YativoClient(rate_limits=[])`` yourself, or run in virtual time (``fake.transport()``
under ``looptime``).

It also makes ``aioresponses`` work on aiohttp >= 3.14 (`fix_aioresponses`, where
aioresponses is installed and still needs it), so mocking the default transport with it
works in any test session, with no set-up.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

from ._compat import fix_aioresponses


def pytest_configure() -> None:
    """Before any test: aioresponses mocks aiohttp >= 3.14 as it did older ones. Never
    breaks a test session (a plugin loaded wherever the SDK is installed)."""
    try:
        fix_aioresponses()
    except Exception as exc:  # pragma: no cover - an aioresponses/aiohttp pair we never saw
        import logging

        logging.getLogger("yativo_async").warning(
            "could not adapt aioresponses to this aiohttp: %s", type(exc).__name__)

if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    from .._client import YativoClient
    from ._fake import FakeYativo

    @pytest_asyncio.fixture
    async def fake_yativo() -> AsyncIterator[FakeYativo]:
        """A `FakeYativo` on a loopback port, with the documented default limits."""
        async with FakeYativo() as fake:
            yield fake

    @pytest_asyncio.fixture
    async def yativo_client(fake_yativo: FakeYativo) -> AsyncIterator[YativoClient]:
        """A `YativoClient` for ``fake_yativo`` (user token, 2FA from the fake's secret).

        Paced at 60 calls a minute, like the real server: 5,000 calls take ~83 minutes.
        """
        async with YativoClient(
            access_token=fake_yativo.access_token,
            base_url=fake_yativo.base_url,
            two_factor=fake_yativo.totp_secret,
        ) as client:
            yield client
