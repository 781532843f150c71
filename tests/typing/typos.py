"""Typos mypy must catch. Each line below carries the ignore comment (with the error code)
it must raise: with ``warn_unused_ignores`` (part of ``--strict``), a typo mypy let through
leaves an unused ignore, which fails tests/test_ux_typing.py.
"""

from __future__ import annotations

import yativo_async as y


async def typos(client: y.YativoClient) -> None:
    await client.api_keys.create(name="a", permissions=["raed"])  # type: ignore[list-item]
    await client.api_keys.generate(name="a", permissions=["transactions:raed"])  # type: ignore[list-item]
    await client.api_keys.update_permissions("k", ["wrtie"])  # type: ignore[list-item]
    y.YativoClient.from_env(max_wiat=2.0)  # type: ignore[call-arg]
    y.YativoClient.from_env(max_wait="2")  # type: ignore[arg-type]
    client.with_options(priority="urgent")  # type: ignore[arg-type]
    client.with_options(timout=3.0)  # type: ignore[call-arg]
    await client.api_keys.list(extra_headers=[("X-A", "1")])  # type: ignore[arg-type]
    raw = await client.api_keys.with_raw_response.get("k")
    key_id: int = raw.parse().id  # type: ignore[assignment]
    data: list[str] = client_key(client).to_dict()  # type: ignore[assignment]
    print(key_id, data)


def client_key(client: y.YativoClient) -> y.ApiKey:
    return y.ApiKey(id="k", name="n")
