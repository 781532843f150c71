"""The one cattrs converter that owns the wire format.

Everything the docs leave open is decided here, in one place:

* the ``{success, message, warning, data}`` envelope of doc 000 is unwrapped; doc 002's flat
  answers are taken as they are;
* wire aliases: ``key_id``/``id``, ``key_name``/``name``, ``scopes``/``permissions``;
* ISO 8601 timestamps (``Z`` included) become aware ``datetime``s (naive ones are read as UTC);
* secrets become `Secret` the moment they are decoded;
* unknown fields are ignored, unknown permission strings kept;
* anything else that does not fit raises `ResponseDecodeError` with a readable path
  (``cattrs.transform_error``), never a stray ``KeyError``/``TypeError``.

Speed (``python -m benchmarks decode``): each model also gets a structure function generated
once from its fields (`_fast_structurer`). It takes only the common, exactly-typed case and
gives up (raises) on anything else; then the configured converter above runs on the same
data, so it alone decides what is accepted and words every error. The fast function never
accepts what the converter would refuse, and builds the same object when both accept.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final, TypeVar, cast, overload

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import ResponseDecodeError
from ._models import AccessToken, ApiKey, CreatedApiKey, KeyRateLimit, RotatedApiKey
from ._sansio import safe_body
from ._secret import Secret
from ._twin import twin

__all__ = ["JSONValue", "Model", "converter", "decode", "decode_key_list", "loads", "to_jsonable"]

T = TypeVar("T")

#: what ``json.dumps`` takes and ``json.loads`` gives back
JSONValue = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None
#: every model the SDK returns
Model = ApiKey | CreatedApiKey | RotatedApiKey | AccessToken | KeyRateLimit
_MODELS: Final = (ApiKey, CreatedApiKey, RotatedApiKey, AccessToken, KeyRateLimit)

_ALIASES: Final[Mapping[str, str]] = {
    "key_id": "id",
    "key_name": "name",
    "scopes": "permissions",
}


def _strict_str(value: Any, _t: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_int(value: Any, _t: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r:.40}")


#: the seconds of a time and its fraction (``.`` or ``,``, any number of digits)
_FRACTION: Final = re.compile(r"(\d\d:\d\d:\d\d)[.,](\d+)")


def _fromisoformat_z(text: str) -> datetime:
    """``datetime.fromisoformat`` that also reads a trailing ``Z`` (Python 3.10's does not;
    3.11's does): the fast path uses it there rather than fail into the fallback on every
    timestamp."""
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 (``Z`` accepted, naive read as UTC) or epoch seconds -> aware datetime."""
    if isinstance(value, bool):
        raise TypeError("expected a timestamp, got a boolean")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    text = value.strip()
    try:
        parsed = _fromisoformat_z(text)
    except ValueError:
        # Python 3.10 reads a fraction of exactly 3 or 6 digits; 3.11 any number, cut to
        # microseconds (Go's RFC 3339 drops trailing zeros: ".12Z"; others send nanoseconds)
        fixed = _FRACTION.sub(lambda m: f"{m[1]}.{m[2][:6]:0<6}", text, count=1)
        try:
            parsed = _fromisoformat_z(fixed)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r:.40}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _structure_datetime(value: Any, _t: Any) -> datetime:
    return parse_datetime(value)


def _structure_secret(value: Any, _t: Any) -> Secret:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty secret string")
    return Secret(value)


def _structure_str_tuple(value: Any, _t: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list of strings, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise TypeError(f"item {i}: expected a string, got {type(item).__name__}")
        out.append(item)
    return tuple(out)


def _with_aliases(cls: type[T], conv: cattrs.Converter) -> Callable[[Any, Any], T]:
    # ``request_id`` comes from the response's headers, never from the body.
    omit = {"request_id": override(omit=True)} if _has_request_id(cls) else {}
    inner = make_dict_structure_fn(cls, conv, **omit)  # type: ignore[arg-type]
    names = {a.name for a in cls.__attrs_attrs__}  # type: ignore[attr-defined]

    def structure(value: Any, _t: Any) -> T:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a JSON object, got {type(value).__name__}")
        data = dict(value)
        for wire, py in _ALIASES.items():
            if py in names and wire in data and data.get(py) is None:
                data[py] = data.pop(wire)
        for key in [k for k, v in data.items() if v is None]:
            # null means "absent": let the model default apply (and required fields fail).
            del data[key]
        return inner(data, cls)

    return structure


def _has_request_id(cls: type) -> bool:
    return any(a.name == "request_id" for a in cls.__attrs_attrs__)  # type: ignore[attr-defined]


def _omit_request_id(conv: cattrs.Converter) -> None:
    """Models serialise to their data: the response's request id is not part of it."""
    for cls in _MODELS:
        if _has_request_id(cls):
            conv.register_unstructure_hook(
                cls, make_dict_unstructure_fn(cls, conv, request_id=override(omit=True))
            )


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(Secret, _structure_secret)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_str_tuple)
    for cls in (ApiKey, CreatedApiKey, RotatedApiKey, AccessToken, KeyRateLimit):
        conv.register_structure_hook(cls, _with_aliases(cls, conv))
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat().replace("+00:00", "Z"))
    conv.register_unstructure_hook(Secret, str)
    _omit_request_id(conv)
    return conv


converter: Final = _make_converter()
_revealing: Final = converter.copy()
_revealing.register_unstructure_hook(Secret, Secret.get_secret_value)
# The generated hooks bind their converter: make the revealing copy's own.
_omit_request_id(_revealing)


@overload
def to_jsonable(value: Model, *, reveal_secrets: bool = False) -> dict[str, JSONValue]: ...
@overload
def to_jsonable(
    value: Sequence[Model], *, reveal_secrets: bool = False
) -> list[dict[str, JSONValue]]: ...
def to_jsonable(
    value: Model | Sequence[Model], *, reveal_secrets: bool = False
) -> dict[str, JSONValue] | list[dict[str, JSONValue]]:
    """A model (or a list of them) as plain JSON-able data, ready for ``json.dumps`` or a
    web framework's response. Secrets stay masked unless ``reveal_secrets``."""
    conv = _revealing if reveal_secrets else converter
    if isinstance(value, _MODELS):
        return cast("dict[str, JSONValue]", conv.unstructure(value))
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [cast("dict[str, JSONValue]", conv.unstructure(v)) for v in value]
    raise TypeError(f"to_jsonable takes a yativo_async model or a list of them, "
                    f"not {type(value).__name__}")


# --------------------------------------------------------------------------------------
# The fast path: one generated function per model


class _Bail(Exception):
    """The fast path met something it does not take: let the converter decide."""


_fromisoformat: Final[Callable[[str], datetime]] = (
    datetime.fromisoformat if sys.version_info >= (3, 11) else _fromisoformat_z
)
_UTC: Final = timezone.utc


def _optional_of(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _datetime_lines(v: str, pad: str, *, text: bool = False) -> list[str]:
    """Source turning the wire value in ``v`` into an aware datetime: `fromisoformat` for the
    common string, `parse_datetime` (which raises on what it refuses) for everything else;
    ``text``: ``v`` is known to be a string. Three of these per key are most of a key's
    cost: inlined, not called."""
    parse = [
        f"{pad}try:",
        f"{pad}    {v} = _iso({v})",
        f"{pad}except ValueError:",
        f"{pad}    {v} = _parse_dt({v})",
        f"{pad}if {v}.tzinfo is None:",
        f"{pad}    {v} = {v}.replace(tzinfo=_UTC)",
    ]
    if text:
        return parse
    return [f"{pad}if type({v}) is str:", *(f"    {line}" for line in parse),
            f"{pad}else:", f"{pad}    {v} = _parse_dt({v})"]


def _build_lines(cls: type, ns: dict[str, Any]) -> list[str]:
    """Source returning ``cls`` built from ``v0``, ``v1``, ... (one per attrs field)."""
    fields = attrs.fields(cls)
    plain = "__slots__" in cls.__dict__ and all(
        f.validator is None and f.converter is None and f.init and f.alias == f.name
        for f in fields
    ) and not hasattr(cls, "__attrs_post_init__") and not hasattr(cls, "__attrs_pre_init__")
    ns["cls"] = cls
    if not plain:
        args = ", ".join(f"{f.name}=v{i}" for i, f in enumerate(fields))
        return [f"    return cls({args})"]
    # Equivalent to cls(...) for a slotted class with no validators, converters or init
    # hooks (checked above): every slot set, then the frozen class given to the object.
    twin_cls = twin(cls)
    if twin_cls is not None:
        # see `_twin`: nine slot stores and a class swap instead of nine calls
        ns["twin"] = twin_cls
        lines = ["    o = twin()"]
        lines += [f"    o.{f.name} = v{i}" for i, f in enumerate(fields)]
        return [*lines, "    o.__class__ = cls", "    return o"]
    ns["_new"] = object.__new__
    lines = ["    o = _new(cls)"]
    for i, f in enumerate(fields):
        ns[f"s{i}"] = getattr(cls, f.name).__set__
        lines.append(f"    s{i}(o, v{i})")
    return [*lines, "    return o"]


def _compile(lines: list[str], ns: dict[str, Any]) -> Callable[..., Any]:
    ns.update(_Bail=_Bail, _iso=_fromisoformat, _parse_dt=parse_datetime, _UTC=_UTC)
    # our own source, generated from the model's own fields
    exec("\n".join(lines), ns)
    fn: Callable[..., Any] = ns["structure"]
    return fn


def _fast_structurer(cls: type[T], fast: Mapping[type, Callable[..., Any]]) -> Callable[..., T]:
    """Generate ``structure(data, rid=None) -> cls`` for an attrs class: plain dict lookups,
    exact type checks, aliases and the null-means-absent rule of `_with_aliases` inlined.
    ``request_id`` is ``rid`` (from the response's headers, never from the body). Whatever
    it does not handle raises (`_Bail` or the hook's own error)."""
    hints = typing.get_type_hints(cls)
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    wire = {py: w for w, py in _ALIASES.items()}
    ns: dict[str, Any] = {}
    lines = ["def structure(d, rid=None):", "    if type(d) is not dict:", "        raise _Bail",
             "    get = d.get"]
    for i, f in enumerate(fields):
        v = f"v{i}"
        if f.name == "request_id":
            lines.append(f"    {v} = rid")
            continue
        lines.append(f"    {v} = get({f.name!r})")
        if f.name in wire:
            lines.append(f"    if {v} is None:")
            lines.append(f"        {v} = get({wire[f.name]!r})")
        tp, _optional = _optional_of(hints[f.name])
        if f.default is attrs.NOTHING:
            lines.append(f"    if {v} is None:")
            lines.append("        raise _Bail")
        else:
            ns[f"d{i}"] = f.default
            lines.append(f"    if {v} is None:")
            lines.append(f"        {v} = d{i}")
            lines.append("    else:")
        pad = "        " if f.default is not attrs.NOTHING else "    "
        if tp is str:
            lines.append(f"{pad}if type({v}) is not str:")
            lines.append(f"{pad}    raise _Bail")
        elif tp is datetime:
            lines += _datetime_lines(v, pad)
        elif tp == tuple[str, ...]:
            lines += [
                f"{pad}if type({v}) is not list:",
                f"{pad}    raise _Bail",
                f"{pad}for x in {v}:",
                f"{pad}    if type(x) is not str:",
                f"{pad}        raise _Bail",
                f"{pad}{v} = tuple({v})",
            ]
        elif tp in fast:
            ns[f"h{i}"] = fast[tp]
            lines.append(f"{pad}{v} = h{i}({v})")
        else:
            # not worth a fast path (rare fields): the configured converter's own hook
            ns[f"h{i}"] = converter.get_structure_hook(tp)
            ns[f"t{i}"] = tp
            lines.append(f"{pad}{v} = h{i}({v}, t{i})")
    return _compile(lines + _build_lines(cls, ns), ns)


def _make_fast() -> dict[Any, Callable[..., Any]]:
    fast: dict[Any, Callable[..., Any]] = {
        Secret: lambda v: _structure_secret(v, Secret),
        int: lambda v: v if type(v) is int else _strict_int(v, int),
    }
    # nested models first (KeyRateLimit inside CreatedApiKey)
    for cls in (KeyRateLimit, AccessToken, RotatedApiKey, ApiKey, CreatedApiKey):
        fast[cls] = _fast_structurer(cls, fast)
    return fast


_FAST: Final = _make_fast()
_fast_api_key: Final[Callable[[Any, str | None], ApiKey]] = _FAST[ApiKey]


def _fast_key_list(data: Any, rid: str | None = None) -> list[ApiKey]:
    if type(data) is not list:
        raise _Bail
    return [_fast_api_key(item, rid) for item in data]


#: made once: ``list[ApiKey]`` builds (and hashes) a new alias each time it is written
_KEY_LIST: Final = list[ApiKey]
_FAST[_KEY_LIST] = _fast_key_list


def _import_at_least(name: str, minimum: tuple[int, ...]) -> Any:
    """Module ``name`` of the ``speedups`` extra when installed at ``minimum`` or later,
    else None (an unreadable version counts as too old)."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    try:
        version = tuple(int(part) for part in module.__version__.split(".")[:3])
    except (AttributeError, ValueError):
        return None
    return module if version >= minimum else None


#: the first msgspec this path is tested with (a deep body is a RecursionError, not a crash)
_MSGSPEC_MIN: Final = (0, 18, 6)


def _optional_wire_key_list() -> Callable[[bytes, str | None], list[ApiKey]] | None:
    """With the ``speedups`` extra: msgspec reads a key-list body straight into typed wire
    structs (in C, checking every type on the way), and a function generated from
    `ApiKey`'s fields builds the models from them: a 50-key list in about two thirds of
    the time of ``json.loads`` plus the dict path (``python -m benchmarks decode``).

    Only the common shape is taken: ``{"keys": [...]}`` or a bare list, no envelope, none
    of the doc-000 names, timestamps as strings. Anything else raises, and
    `decode_key_list` goes the usual way, which alone decides what is accepted and words
    every error. Timestamps are read by the same `fromisoformat` code as the dict path
    (msgspec's own reader rounds past microseconds where Python truncates), so the extra
    changes no value either. None when msgspec is missing, too old, or a field of `ApiKey`
    is of a kind this does not know (no speedup rather than a wrong one)."""
    msgspec = _import_at_least("msgspec", _MSGSPEC_MIN)
    if msgspec is None:
        return None
    hints = typing.get_type_hints(ApiKey)
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(ApiKey)
    wire: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    ns: dict[str, Any] = {}
    lines = ["def structure(k, rid):"]
    for i, f in enumerate(fields):
        v = f"v{i}"
        if f.name == "request_id":
            lines.append(f"    {v} = rid")  # from the response's headers, never the body
            continue
        tp, optional = _optional_of(hints[f.name])
        if optional and f.default is not None:
            return None  # null must mean the default: only true when the default is None
        lines.append(f"    {v} = k.{f.name}")
        if tp is datetime and optional:
            wire_type: Any = str | None
            lines += [f"    if {v} is not None:", *_datetime_lines(v, "        ", text=True)]
        elif tp is str or tp == tuple[str, ...]:
            wire_type = hints[f.name]
        else:
            return None
        if f.default is attrs.NOTHING:
            wire.append((f.name, wire_type))
        elif f.default in (None, ()):
            wire.append((f.name, wire_type, f.default))
        else:
            return None
    # The doc-000 names: present at all (even null), the aliasing rules of the converter
    # apply, so the body goes the usual way.
    names = {f.name for f in fields}
    wire += [(w, msgspec.UnsetType, msgspec.UNSET) for w, py in _ALIASES.items() if py in names]
    keys: Any = types.GenericAlias(list, msgspec.defstruct("WireKey", wire, kw_only=True, gc=False))
    # `data` at all: maybe an envelope, which `unwrap` decides on
    body: Any = msgspec.defstruct(
        "WireKeyList", [("keys", keys), ("data", msgspec.UnsetType, msgspec.UNSET)]
    )
    decode = msgspec.json.Decoder(body | keys).decode
    build = _compile(lines + _build_lines(ApiKey, ns), ns)

    def key_list(body: bytes, rid: str | None) -> list[ApiKey]:
        data = decode(body)
        if type(data) is not list:
            data = data.keys
        return [build(k, rid) for k in data]

    return key_list


#: None: no ``speedups`` extra (set to None to measure or test without it)
wire_key_list: Callable[[bytes, str | None], list[ApiKey]] | None = _optional_wire_key_list()


# --------------------------------------------------------------------------------------
# Decoding response bodies


#: the first orjson with a nesting limit (3.9.15)
_ORJSON_SAFE: Final = (3, 9, 15)


def _optional_fast_loads() -> Callable[[bytes], Any] | None:
    """orjson's ``loads`` when the ``speedups`` extra is installed (it parses a key list in
    about half the time of ``json.loads``; ``python -m benchmarks decode``)."""
    # Older orjson recursed without a limit and crashed the process on a deeply nested
    # body (CVE-2024-27454): a hostile server must not be able to do that.
    orjson = _import_at_least("orjson", _ORJSON_SAFE)
    if orjson is None:
        return None
    fn: Callable[[bytes], Any] = orjson.loads
    return fn


#: None: the standard library alone (set to None to measure without the extra)
fast_loads: Callable[[bytes], Any] | None = _optional_fast_loads()


def loads(body: bytes, *, status: int | None = None) -> Any:
    if fast_loads is not None:
        try:
            return fast_loads(body)
        except Exception:
            # orjson is stricter (NaN, UTF-16, a BOM, lone surrogates): the standard parser
            # below decides, so the extra changes neither what is accepted nor an error. The
            # one difference it makes: an integer past 64 bits is read as a float.
            pass
    try:
        return json.loads(body)
    except RecursionError:
        failure = ResponseDecodeError(
            "response body is nested too deeply to decode", status=status, body=safe_body(body)
        )
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "empty" if not body.strip() else "not valid JSON"
        failure = ResponseDecodeError(
            f"response body is {kind} ({exc.__class__.__name__}: {str(exc)[:80]})",
            status=status,
            body=safe_body(body),
        )
    # Raised outside the handler: a UnicodeDecodeError holds the whole body (`.object`), and
    # as the __context__ of this error it would reach anyone who walks the chain.
    raise failure


def unwrap(data: Any, *, status: int | None = None, body: bytes = b"") -> Any:
    """Peel the doc-000 envelope ``{success, message, data}`` if there is one."""
    if isinstance(data, dict) and "data" in data and (
        "success" in data or "status" in data or "message" in data
    ):
        if data.get("success") is False:
            message = data.get("message") or data.get("error") or "success: false"
            raise ResponseDecodeError(
                f"server reported failure in a {status} response: {str(message)[:200]}",
                status=status,
                body=safe_body(body),
            )
        return data["data"]
    return data


def structure(data: Any, cls: type[T], *, status: int | None = None, body: bytes = b"") -> T:
    fast = _FAST.get(cls)
    if fast is not None:
        try:
            return fast(data)  # type: ignore[no-any-return]
        except Exception:
            pass  # the configured converter below decides, and words the error
    return _structure_slowly(data, cls, status=status, body=body)


def _structure_slowly(data: Any, cls: type[T], *, status: int | None, body: bytes) -> T:
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            details = "; ".join(cattrs.transform_error(exc, path="$"))
        else:
            details = f"{exc} @ $"
        failure = ResponseDecodeError(
            f"response does not match {cls.__name__}: {details}",
            status=status,
            body=safe_body(body),
        )
    raise failure  # outside the handler: cattrs' errors hold the values they were given


_Tagged = TypeVar("_Tagged", ApiKey, CreatedApiKey, RotatedApiKey, AccessToken)


def tag(model: _Tagged, request_id: str | None) -> _Tagged:
    """``model``, just decoded and seen by no one yet, with the response's request id.

    Models are frozen for their users; this sets the one field the body does not carry
    before anyone holds the model (``attrs.evolve`` would rebuild it: 2-3 µs per key of a
    list, a measurable share of a call).
    """
    if request_id is not None:
        object.__setattr__(model, "request_id", request_id)
    return model


def decode(body: bytes, cls: type[T], *, status: int | None = None) -> T:
    """Body bytes -> model, or `ResponseDecodeError`."""
    data = unwrap(loads(body, status=status), status=status, body=body)
    if isinstance(data, dict) and cls is ApiKey and isinstance(data.get("key"), dict):
        data = data["key"]
    return structure(data, cls, status=status, body=body)


def decode_key_list(
    body: bytes, *, status: int | None = None, request_id: str | None = None
) -> list[ApiKey]:
    """``{keys: [...]}``, an envelope around it, or a bare list; each key carries
    ``request_id`` (the response's, from its headers)."""
    if wire_key_list is not None:
        try:
            return wire_key_list(body, request_id)
        except Exception:
            pass  # not the common shape: the usual way below decides, and words the error
    data = unwrap(loads(body, status=status), status=status, body=body)
    if isinstance(data, dict):
        if "keys" not in data:
            raise ResponseDecodeError(
                "response does not match a key list: missing 'keys' @ $",
                status=status,
                body=safe_body(body),
            )
        data = data["keys"]
    if not isinstance(data, list):
        raise ResponseDecodeError(
            f"response does not match a key list: expected a list @ $.keys, "
            f"got {type(data).__name__}",
            status=status,
            body=safe_body(body),
        )
    try:
        return _fast_key_list(data, request_id)
    except Exception:
        pass
    keys = _structure_slowly(data, _KEY_LIST, status=status, body=body)
    if request_id is not None:
        for key in keys:
            tag(key, request_id)
    return keys
