"""Testing helpers: `FakeYativo`, a faithful in-process fake of the Yativo API."""

from ._fake import FakeKey, FakeYativo, Faults, JournalEntry

__all__ = ["FakeKey", "FakeYativo", "Faults", "JournalEntry"]
