"""Testing helpers: `FakeYativo`, a faithful in-process fake of the Yativo API."""

from ._compat import fix_aioresponses
from ._fake import FakeKey, FakeTransport, FakeYativo, Faults, JournalEntry

__all__ = ["FakeKey", "FakeTransport", "FakeYativo", "Faults", "JournalEntry", "fix_aioresponses"]
