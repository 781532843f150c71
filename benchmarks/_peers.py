"""The peers each figure is measured against, written as a user would write them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiohttp
import httpx
import pydantic

import yativo_async as y


class PApiKey(pydantic.BaseModel):
    """The same model as `yativo_async.ApiKey`, in pydantic v2 (with the same aliases)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="ignore")

    id: str = pydantic.Field(validation_alias=pydantic.AliasChoices("id", "key_id"))
    name: str = pydantic.Field(validation_alias=pydantic.AliasChoices("name", "key_name"))
    permissions: tuple[str, ...] = pydantic.Field(
        default=(), validation_alias=pydantic.AliasChoices("permissions", "scopes")
    )
    status: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    api_key: str | None = None


class PKeyList(pydantic.BaseModel):
    keys: list[PApiKey]


KEY_LIST: pydantic.TypeAdapter[PKeyList] = pydantic.TypeAdapter(PKeyList)


# -- clients: each makes ``calls`` list calls with ``conc`` workers; a client is one object
#    made before the clock starts (a session/pool, as an app holds one) ------------------


class RawAiohttp:
    name = "aiohttp + json.loads"

    def __init__(self, base: str, token: str) -> None:
        self.url = base + "/apikey/list"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def __aenter__(self) -> RawAiohttp:
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.session.close()

    async def call(self) -> Any:
        async with self.session.get(self.url, headers=self.headers) as resp:
            if resp.status != 200:
                raise RuntimeError(resp.status)
            return json.loads(await resp.read())["keys"]


class RawHttpx:
    name = "httpx + json.loads"

    def __init__(self, base: str, token: str) -> None:
        self.url = base + "/apikey/list"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def __aenter__(self) -> RawHttpx:
        # httpx's 5 s pool timeout fails calls queued behind its 100 connections at 500-way;
        # aiohttp and the SDK wait for a connection as long as it takes, so let httpx too.
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, pool=None))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.aclose()

    async def call(self) -> Any:
        resp = await self.client.get(self.url, headers=self.headers)
        if resp.status_code != 200:
            raise RuntimeError(resp.status_code)
        return json.loads(resp.content)["keys"]


class HttpxPydantic(RawHttpx):
    name = "httpx + pydantic v2"

    async def call(self) -> Any:
        resp = await self.client.get(self.url, headers=self.headers)
        if resp.status_code != 200:
            raise RuntimeError(resp.status_code)
        return KEY_LIST.validate_json(resp.content).keys


#: three windows on, as by default, with budgets too large to make anyone wait
BIG_LIMITS = [y.RateLimit(10**9, 60.0), y.RateLimit(10**9, 3600.0), y.RateLimit(10**9, 86400.0)]


class Sdk:
    name = "YativoClient"

    def __init__(self, base: str, token: str) -> None:
        self.client = y.YativoClient(access_token=token, base_url=base, rate_limits=BIG_LIMITS)

    async def __aenter__(self) -> Sdk:
        await self.client.__aenter__()
        self.call = self.client.api_keys.list  # type: ignore[method-assign]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.aclose()

    async def call(self) -> Any:  # replaced in __aenter__
        raise NotImplementedError


CLIENTS = (RawAiohttp, RawHttpx, HttpxPydantic, Sdk)
