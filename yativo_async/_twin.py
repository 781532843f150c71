"""Building a frozen slotted attrs instance without a call per field.

A frozen attrs class sets each field through ``object.__setattr__`` (or its slot's
descriptor): a call per field, about 80-140 ns each. For the few objects built once per
call (a `Response`, every `ApiKey` of a list), the SDK fills a plain *twin* class with the
same base and slots (an ordinary attribute store each) and then gives the object the
frozen class by ``__class__`` assignment, which CPython allows between classes of the
same layout. The result is an instance of the frozen class in every respect (type,
equality, hash, repr, frozenness, pickling). Only for classes without validators,
converters or init hooks; callers check that.
"""

from __future__ import annotations

__all__ = ["twin"]


def twin(cls: type) -> type | None:
    """A plain class with ``cls``'s base and slots whose instance can become a ``cls`` by
    ``__class__`` assignment, or None when CPython refuses that here (a ``__weakref__``
    slot on 3.10/3.11, more than one base, no ``__slots__``)."""
    slots = cls.__dict__.get("__slots__")
    if slots is None or len(cls.__bases__) != 1 or "__weakref__" in slots:
        return None
    made = type(f"_{cls.__name__}Twin", cls.__bases__, {"__slots__": slots})
    try:
        probe = made()
        probe.__class__ = cls
    except TypeError:
        return None
    return made
