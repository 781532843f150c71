"""The ``speedups`` extra's key-list decoder (msgspec) changes nothing but speed: for any
body, ``decode_key_list`` gives the same keys (same values, same time zones, same request
id) or the same error with the same message as without the extra. Run where the extra is
installed (the nox ``uvloop`` and ``lint`` sessions, and `pip install -e '.[dev,speedups]'`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import yativo_async as y
from yativo_async import _converter
from yativo_async._converter import decode_key_list

from .conftest import sample

pytest.importorskip("msgspec")

KEY: dict[str, Any] = {
    "id": "key_01abc123",
    "name": "Production Server",
    "permissions": ["read", "write", "transactions:read"],
    "status": "active",
    "created_at": "2026-03-26T10:00:00Z",
    "expires_at": "2027-03-26T10:00:00.000+02:00",
    "last_used_at": "2026-03-25T14:30:00.123456Z",
}


def _result(body: bytes, rid: str | None) -> tuple[str, Any]:
    try:
        keys = decode_key_list(body, status=200, request_id=rid)
    except y.ResponseDecodeError as exc:
        return "error", (exc.message, exc.status, exc.body)
    # repr shows each timestamp's offset (equal datetimes in two zones compare equal)
    return "keys", [(repr(k), k.request_id, type(k.permissions)) for k in keys]


def _both_ways(body: bytes, rid: str | None, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    with_extra = _result(body, rid)
    with monkeypatch.context() as m:
        m.setattr(_converter, "wire_key_list", None)
        m.setattr(_converter, "fast_loads", None)
        without = _result(body, rid)
    return with_extra, without


def test_the_extra_is_in_use_here() -> None:
    assert _converter.wire_key_list is not None


@pytest.mark.parametrize("body", [sample("doc002_list.json"), json.dumps({"keys": [KEY] * 5}).encode(),
                                  json.dumps([KEY]).encode(), b'{"keys": []}'])
def test_the_common_shape_takes_the_fast_way(body: bytes) -> None:
    # Not a timing: the common body really is built by the msgspec path (it does not raise
    # into the fallback), and what it builds is what the usual way builds.
    assert _converter.wire_key_list is not None
    fast = _converter.wire_key_list(body, "req_1")
    assert [repr(k) for k in fast] == [repr(k) for k in decode_key_list(body)]
    assert all(k.request_id == "req_1" for k in fast)


def test_a_request_id_in_the_body_is_never_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({"keys": [{**KEY, "request_id": "from-the-body"}]}).encode()
    for rid in (None, "req_9"):
        with_extra, without = _both_ways(body, rid, monkeypatch)
        assert with_extra == without
        assert with_extra[1][0][1] == rid


_NO_PERMISSIONS = {k: v for k, v in KEY.items() if k != "permissions"}


@pytest.mark.parametrize("key", [
    {**_NO_PERMISSIONS, "scopes": ["x:y"]},                    # the doc-000 name alone
    {**KEY, "permissions": None, "scopes": ["x:y"]},           # behind a null
    {**_NO_PERMISSIONS, "scopes": None},
    {**{k: v for k, v in KEY.items() if k != "id"}, "key_id": "k2"},
    {**KEY, "id": None, "key_id": "k2"},
    {**{k: v for k, v in KEY.items() if k != "name"}, "key_name": "n2"},
    {**KEY, "key_id": "ignored", "scopes": ["ignored"]},       # the Python names win
    {**KEY, "last_used_at": "2026-03-25T14:30:00.1234567Z"},   # msgspec's reader would round
    {**KEY, "created_at": "2026-03-26T10:00:00"},              # naive: read as UTC
])
def test_aliases_and_edge_values_agree(key: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({"keys": [key]}).encode()
    with_extra, without = _both_ways(body, "req_1", monkeypatch)
    assert with_extra == without
    assert with_extra[0] == "keys"


_TIMES = st.sampled_from([
    "2026-03-26T10:00:00Z", "2026-03-26t10:00:00z", "2026-03-26 10:00:00Z",
    "2026-03-26T10:00:00.1234567Z",        # past microseconds: msgspec rounds, Python cuts
    "2026-03-26T10:00:00.9999995Z", "2026-03-26T10:00:00.123456789+05:30",
    "2026-03-26T10:00:00", " 2026-03-26T10:00:00Z ", "2026-03-26T10:00:00-00:00",
    "2026-03-26T10:00:00+0000", "2026-03-26T10:00Z", "2026-03-26", "20260326T100000Z",
    "2026-03-26T23:59:60Z", "2026-02-30T00:00:00Z", "9999-12-31T23:59:59.9999999Z",
    "", "yesterday", 1_700_000_000, 1_700_000_000.5, True, None, [], {},
])
_TEXT = st.sampled_from(["key_1", "é ünïcode", "", "\ud800", None, 5, True, ["x"]])
_PERMS = st.sampled_from([["read"], [], None, ["read", 3], "read", ["x:y", "é"]])
_FIELD_VALUES: dict[str, Any] = {
    "id": _TEXT, "name": _TEXT, "permissions": _PERMS, "status": _TEXT,
    "created_at": _TIMES, "expires_at": _TIMES, "last_used_at": _TIMES, "api_key": _TEXT,
    "key_id": _TEXT, "key_name": _TEXT, "scopes": _PERMS, "request_id": _TEXT,
    "unknown": st.sampled_from([1, {"nested": [1, 2]}, None]),
}


@st.composite
def _key(draw: st.DrawFn) -> dict[str, Any]:
    key = dict(KEY)
    for name, values in _FIELD_VALUES.items():
        roll = draw(st.integers(0, 5))  # 2-5: as in KEY, so most keys are valid
        if roll == 0:
            key.pop(name, None)
        elif roll == 1:
            key[name] = draw(values)
    return key


_SHAPES = st.sampled_from(["keys", "bare", "envelope", "envelope-list", "data-too", "keys-null",
                           "keys-object", "failed-envelope", "not-json", "trailing"])


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(keys=st.lists(_key(), max_size=4), shape=_SHAPES, ascii_only=st.booleans(),
       rid=st.sampled_from([None, "req_1"]))
def test_with_or_without_the_extra_the_same_keys_or_the_same_error(
    keys: list[dict[str, Any]], shape: str, ascii_only: bool, rid: str | None,
) -> None:
    doc: Any = {
        "keys": {"keys": keys},
        "bare": keys,
        "envelope": {"success": True, "message": "ok", "data": {"keys": keys}},
        "envelope-list": {"status": "ok", "data": keys},
        "data-too": {"keys": keys, "data": None},
        "keys-null": {"keys": None},
        "keys-object": {"keys": {"id": "k"}},
        "failed-envelope": {"success": False, "message": "nope", "data": {"keys": keys}},
    }.get(shape, {"keys": keys})
    body = json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    if shape == "not-json":
        body = body[:-1]
    elif shape == "trailing":
        body += b" x"
    with pytest.MonkeyPatch.context() as monkeypatch:
        with_extra, without = _both_ways(body, rid, monkeypatch)
    assert with_extra == without


def test_a_deep_body_is_a_decode_error_with_the_extra() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    for body in (b'{"keys": [], "x": ' + deep + b"}",
                 b'{"keys": [{"id": "a", "name": "b", "x": ' + deep + b"}]}"):
        with pytest.raises(y.ResponseDecodeError):
            decode_key_list(body, status=200)


def test_an_old_msgspec_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import msgspec

    monkeypatch.setattr(msgspec, "__version__", "0.18.5")
    assert _converter._optional_wire_key_list() is None
    monkeypatch.setattr(msgspec, "__version__", "0.18.6")
    assert _converter._optional_wire_key_list() is not None
