"""The generated fast structure path gives exactly what the configured converter gives, and
leaves every refusal (and its message) to it; loads never lets a RecursionError out."""

from __future__ import annotations

import json
from typing import Any

import pytest

import yativo_async as y
from yativo_async import _converter, _twin
from yativo_async._converter import (
    _FAST,
    converter,
    decode,
    decode_key_list,
    loads,
    structure,
)

from .conftest import sample

KEY: dict[str, Any] = {
    "id": "key_1",
    "name": "Prod",
    "permissions": ["read", "accounts:read"],
    "status": "active",
    "created_at": "2026-01-02T03:04:05Z",
    "expires_at": "2027-01-02T03:04:05.123+02:00",
    "last_used_at": None,
}

# Each accepted by the converter: the fast path must agree, or step aside.
ACCEPTED = [
    KEY,
    {**KEY, "id": None, "key_id": "key_2"},                       # alias behind a null
    {"key_id": "k", "key_name": "n", "scopes": ["x:y"]},           # doc 000 names only
    {**KEY, "created_at": "2026-01-02T03:04:05"},                  # naive: read as UTC
    {**KEY, "created_at": " 2026-01-02T03:04:05z "},               # spaces, lower-case z
    {**KEY, "created_at": 1_700_000_000},                          # epoch seconds
    {**KEY, "created_at": 1_700_000_000.5},
    {**KEY, "permissions": None},                                  # null means absent
    {**KEY, "unknown": {"nested": [1, 2]}},                        # unknown fields ignored
    {**KEY, "id": "same", "key_id": "ignored"},                    # the Python name wins
]


@pytest.mark.parametrize("data", ACCEPTED)
def test_fast_path_builds_what_the_converter_builds(data: dict[str, Any]) -> None:
    expected = converter.structure(data, y.ApiKey)
    assert structure(data, y.ApiKey) == expected
    try:
        fast = _FAST[y.ApiKey](data)
    except Exception:  # stepping aside is allowed; a different answer is not
        return
    assert fast == expected
    assert [type(getattr(fast, a)) for a in ("created_at", "permissions")] == [
        type(expected.created_at), tuple
    ]


def test_fast_path_takes_the_common_case() -> None:
    # Not a timing: the common body really goes through the generated function.
    key = _FAST[y.ApiKey](KEY)
    assert key == converter.structure(KEY, y.ApiKey)
    assert key.created_at is not None and key.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({**KEY, "id": 5}, "$.id"),
        ({**KEY, "permissions": ["ok", 3]}, "$.permissions"),
        ({**KEY, "created_at": "yesterday"}, "$.created_at"),
        ({**KEY, "created_at": True}, "$.created_at"),
        ({k: v for k, v in KEY.items() if k != "name"}, "$.name"),
    ],
)
def test_refusals_keep_the_detailed_message(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(y.ResponseDecodeError, match="ApiKey") as info:
        structure(data, y.ApiKey)
    assert fragment in str(info.value)


def test_a_bad_key_deep_in_a_list_is_named_by_its_index() -> None:
    keys = [KEY] * 3 + [{**KEY, "name": ["not", "a", "string"]}]
    with pytest.raises(y.ResponseDecodeError) as info:
        decode_key_list(json.dumps({"keys": keys}).encode())
    assert "$[3].name" in str(info.value)


def test_other_models_agree_with_the_converter() -> None:
    for name, cls in [
        ("doc000_generate.json", y.CreatedApiKey),
        ("doc000_interface.json", y.CreatedApiKey),
        ("doc002_create.json", y.CreatedApiKey),
        ("doc002_rotate.json", y.RotatedApiKey),
        ("doc002_token.json", y.AccessToken),
    ]:
        data = _converter.unwrap(json.loads(sample(name)))
        assert decode(sample(name), cls) == converter.structure(data, cls), name


def test_int_fields_still_read_numeric_strings_and_refuse_booleans() -> None:
    data = {"requests_per_minute": "60", "requests_per_hour": 3000.0}
    assert structure(data, y.KeyRateLimit) == y.KeyRateLimit(
        requests_per_minute=60, requests_per_hour=3000
    )
    with pytest.raises(y.ResponseDecodeError, match="requests_per_day"):
        structure({"requests_per_day": True}, y.KeyRateLimit)


@pytest.mark.parametrize("extra", [True, False], ids=["speedups", "stdlib"])
def test_deep_nesting_is_a_decode_error(extra: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not extra:
        monkeypatch.setattr(_converter, "fast_loads", None)
    body = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(y.ResponseDecodeError, match="nested too deeply") as info:
        loads(body, status=200)
    assert info.value.status == 200


@pytest.mark.parametrize("body", [b"NaN", b'"\\ud800"', b'\xef\xbb\xbf{"a": 1}', b"[1, 2.5e3]"])
def test_the_speedups_extra_accepts_what_json_accepts(body: bytes) -> None:
    assert json.dumps(loads(body)) == json.dumps(json.loads(body))


def test_the_one_known_difference_of_the_speedups_extra() -> None:
    # orjson reads an integer past 64 bits as a float (documented in _converter.loads).
    body = b'{"n": 123456789012345678901234567890}'
    expected = 1.2345678901234568e29 if _converter.fast_loads is not None else int(body[6:-1])
    assert loads(body) == {"n": expected}


def test_an_orjson_without_a_nesting_limit_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    old = types.ModuleType("orjson")
    old.__version__ = "3.8.3"  # type: ignore[attr-defined]
    old.loads = json.loads  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "orjson", old)
    assert _converter._optional_fast_loads() is None
    old.__version__ = "3.9.15"  # type: ignore[attr-defined]
    assert _converter._optional_fast_loads() is json.loads


@pytest.mark.parametrize("text", ["2026-01-10T10:00:00Z", "2027-01-11T00:00:00.000Z",
                                  "2026-11-21T08:15:01.123456+00:00"])
def test_the_fast_path_reads_z_timestamps_without_falling_back(text: str) -> None:
    """On every Python (3.10's ``fromisoformat`` alone refuses ``Z``): no exception and no
    fallback per timestamp, which costs microseconds on every key of a list."""
    from datetime import timezone

    from yativo_async._converter import _fromisoformat, parse_datetime

    parsed = _fromisoformat(text)
    assert parsed == parse_datetime(text)
    assert parsed.utcoffset() == timezone.utc.utcoffset(None)


def test_the_request_id_comes_from_the_headers_never_from_the_body() -> None:
    body = json.dumps({"keys": [{**KEY, "request_id": "from-the-body"}]}).encode()
    assert _FAST[y.ApiKey]({**KEY, "request_id": "from-the-body"}).request_id is None
    assert converter.structure({**KEY, "request_id": "from-the-body"}, y.ApiKey).request_id is None
    for rid in (None, "req_7"):
        (key,) = decode_key_list(body, request_id=rid)
        assert key.request_id == rid


@pytest.mark.parametrize("digits", range(1, 10))
def test_any_number_of_fraction_digits_is_read_on_every_python(digits: int) -> None:
    """Python 3.10's ``fromisoformat`` reads only 3 or 6; 3.11's any, cut to microseconds.
    Every Python reads them the 3.11 way (Go sends ``.12Z``; others nanoseconds)."""
    from yativo_async._converter import parse_datetime

    fraction = "123456789"[:digits]
    expected = int(fraction[:6].ljust(6, "0"))
    for sep, zone in ((".", "Z"), (",", "+00:00"), (".", "+05:30")):
        parsed = parse_datetime(f"2026-03-26T10:00:00{sep}{fraction}{zone}")
        assert parsed.microsecond == expected
        assert parsed.utcoffset() is not None
    (key,) = decode_key_list(
        json.dumps({"keys": [{**KEY, "created_at": f"2026-03-26T10:00:00.{fraction}Z"}]}).encode()
    )
    assert key.created_at is not None and key.created_at.microsecond == expected


FAST_BUILT = [
    (y.ApiKey, KEY),
    (y.CreatedApiKey, {"api_key": "yvk_1", "api_secret": "s3cret", "created_at": "2026-01-02Z",
                       "rate_limit": {"requests_per_minute": 60}}),
    (y.RotatedApiKey, {"api_secret": "s3cret", "rotated_at": "2026-01-02T03:04:05Z"}),
    (y.AccessToken, {"access_token": "tok", "expires_in": 60}),
    (y.KeyRateLimit, {"requests_per_day": 5}),
]


@pytest.mark.parametrize(("cls", "data"), FAST_BUILT)
def test_fast_built_models_are_the_real_frozen_class(cls: type, data: dict[str, Any]) -> None:
    # The fast path fills a plain twin and hands the object its class: what comes out must
    # be indistinguishable from cls(...), frozen included.
    import copy
    import pickle

    import attrs

    assert _twin.twin(cls) is not None  # else every key pays a call per field
    tagged = "request_id" in attrs.fields_dict(cls)
    fast = _FAST[cls](data, "req_9") if tagged else _FAST[cls](data)
    expected = converter.structure(data, cls)
    if tagged:
        expected = attrs.evolve(expected, request_id="req_9")
        assert fast.request_id == "req_9"
    assert type(fast) is cls
    assert fast == expected and hash(fast) == hash(expected) and repr(fast) == repr(expected)
    for field in attrs.fields(cls):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(fast, field.name, None)
    if not any(isinstance(getattr(fast, f.name), y.Secret) for f in attrs.fields(cls)):
        assert pickle.loads(pickle.dumps(fast)) == fast  # (secrets refuse to be pickled)
        assert copy.deepcopy(fast) == fast
    assert fast.to_dict() == expected.to_dict()


def test_a_class_that_cannot_take_a_twin_is_built_through_its_slots() -> None:
    # A weakref slot makes CPython 3.10/3.11 refuse the class swap: the builder falls back to
    # the slot descriptors, and builds the same object.
    import attrs

    @attrs.frozen(kw_only=True)
    class Weak:
        a: str
        b: int = 0

    assert "__weakref__" in Weak.__slots__
    assert _twin.twin(Weak) is None
    ns: dict[str, Any] = {}
    lines = ["def structure(v0, v1):", *_converter._build_lines(Weak, ns)]
    build = _converter._compile(lines, ns)
    built = build("x", 3)
    assert type(built) is Weak and built == Weak(a="x", b=3)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.a = "y"  # type: ignore[misc]
