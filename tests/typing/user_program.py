"""A small user program that must type-check cleanly under ``mypy --strict``.

Checked by tests/test_ux_typing.py; not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import yativo_async as y


async def main() -> None:
    async with y.YativoClient.from_env(max_wait=2.0, timeout=10.0) as client:
        fast = client.with_options(timeout=5.0, extra_headers={"X-Trace": "abc"},
                                   priority="batch", max_wait=None)
        keys: list[y.ApiKey] = await fast.api_keys.list(timeout=3.0)
        raw: y.APIResponse[list[y.ApiKey]] = await client.api_keys.with_raw_response.list()
        request_id: str | None = raw.request_id
        status: int = raw.status
        parsed: list[y.ApiKey] = raw.parse()
        new = await client.api_keys.create(
            name="svc", permissions=["read", y.Permission.WRITE, y.CustomPermission("x:y")]
        )
        await client.api_keys.generate(name="svc", permissions=["transactions:read"])
        await client.api_keys.update_permissions(new.id or "", ["read", "accounts:write"])
        as_dict: dict[str, y.JSONValue] = new.to_dict()
        as_list: list[dict[str, y.JSONValue]] = y.to_jsonable(keys)
        text: str = new.to_json(reveal_secrets=True)
        token_raw: y.APIResponse[y.AccessToken] = (
            await client.auth.with_raw_response.exchange_token()
        )
        print(keys, request_id, status, parsed, as_dict, as_list, text, token_raw.elapsed)
