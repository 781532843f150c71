"""The pytest plugin, used as a user would: just name the fixtures."""

import subprocess
import sys
from pathlib import Path

import yativo_async as y
from yativo_async.testing import FakeYativo


async def test_fixtures_are_ready(fake_yativo: FakeYativo, yativo_client: y.YativoClient) -> None:
    assert fake_yativo.base_url.startswith("http://127.0.0.1:")
    new = await yativo_client.api_keys.create(name="from plugin", permissions=["read"])
    assert [k.id for k in await yativo_client.api_keys.list()] == [new.id]
    assert fake_yativo.keys_created == 1


def test_aioresponses_mocks_the_default_transport_with_no_set_up(tmp_path: Path) -> None:
    # A user's own test session, no conftest: the plugin (entry point pytest11) makes
    # aioresponses work on aiohttp >= 3.14 before any test runs.
    (tmp_path / "test_user.py").write_text(
        "import asyncio\n"
        "from aioresponses import aioresponses\n"
        "import yativo_async as y\n"
        "\n"
        "def test_list():\n"
        "    async def main():\n"
        "        with aioresponses() as mocked:\n"
        "            mocked.get('https://crypto-api.yativo.com/api/apikey/list',\n"
        "                       payload={'keys': [{'id': 'k1', 'name': 'n'}]})\n"
        "            async with y.YativoClient(access_token='tok') as client:\n"
        "                return await client.api_keys.list()\n"
        "    assert [k.id for k in asyncio.run(main())] == ['k1']\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
