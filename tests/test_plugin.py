"""The pytest plugin, used as a user would: just name the fixtures."""

import yativo_async as y
from yativo_async.testing import FakeYativo


async def test_fixtures_are_ready(fake_yativo: FakeYativo, yativo_client: y.YativoClient) -> None:
    assert fake_yativo.base_url.startswith("http://127.0.0.1:")
    new = await yativo_client.api_keys.create(name="from plugin", permissions=["read"])
    assert [k.id for k in await yativo_client.api_keys.list()] == [new.id]
    assert fake_yativo.keys_created == 1
