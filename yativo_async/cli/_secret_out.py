"""Where a new key's secret goes (``keys create``, ``keys generate``, ``keys rotate``).

The server shows a secret once. A command that sends the request and only then finds it
cannot show the secret has lost it for good (and a second try makes a second key, or
rotates again). So:

1. Decide before sending. `plan()` is pure: from the flags and whether stdout and stderr are
   terminals it names where the secret will go, or raises `NoPlaceForSecret`, in which case
   nothing is sent. In order: ``--secret-file`` (the file only, plus stdout with
   ``--show-secret``); ``--json`` or ``--show-secret`` or a terminal on stdout (stdout); a
   terminal on stderr (stderr: a person sees it, the pipe or log on stdout does not); else
   refuse.
2. ``--secret-file PATH`` is created before sending, with ``O_CREAT | O_EXCL`` and mode 0600
   (whatever the umask). An existing file is never overwritten: it may hold the secret of
   another key, or this key's secret from before a rotation, and a command run twice must
   not destroy the first run's secret. A path that cannot be created is refused up front,
   and so is a disk with no room: the file's space is reserved before sending
   (``posix_fallocate``), so a full disk cannot lose the secret after the server made it.
   If the request fails or is interrupted, the (still empty) file is removed again, and so
   is a file whose writing failed (a full disk): neither holds a secret, and either would
   block the next try.
3. The file holds the secret alone, on one line (``YATIVO_API_SECRET=$(cat PATH)``); the key
   id and the API key are on stdout, which are not secret.
"""

from __future__ import annotations

import errno
import os
from typing import Final

import attrs

__all__ = ["NoPlaceForSecret", "SecretFile", "SecretFileError", "SecretPlan", "plan"]


class NoPlaceForSecret(Exception):
    """The secret could be shown nowhere; the command must refuse before sending."""


class SecretFileError(Exception):
    """``--secret-file`` names a path that cannot be created (or exists)."""


@attrs.frozen(kw_only=True)
class SecretPlan:
    """Where the secret goes. ``stdout``: in the JSON (``--json``) or on a line of its own."""

    stdout: bool = False
    stderr: bool = False
    file: str | None = None


def plan(
    *,
    json_output: bool,
    show_secret: bool,
    secret_file: str | None,
    stdout_tty: bool,
    stderr_tty: bool,
) -> SecretPlan:
    """Rule 1: decide where the secret goes, or raise `NoPlaceForSecret`."""
    if secret_file is not None and secret_file.strip() in ("-", ""):
        # "-" means stdin to --api-secret: here it would be a file named "-", not stdout
        raise NoPlaceForSecret(
            f"--secret-file {secret_file!r} names no file; nothing was sent. For stdout use "
            "--show-secret or --json; for a file, give its path"
        )
    if secret_file is not None:
        return SecretPlan(stdout=show_secret, file=secret_file)
    if json_output or show_secret or stdout_tty:
        return SecretPlan(stdout=True)
    if stderr_tty:
        return SecretPlan(stderr=True)
    raise NoPlaceForSecret(
        "stdout is not a terminal, so the new API secret (shown only once) would not be "
        "seen; nothing was sent. Say where it goes: --json (in the JSON on stdout), "
        "--show-secret (printed on stdout anyway), or --secret-file PATH (a new file, "
        "mode 0600)"
    )


#: bytes reserved for the secret (an API secret is well under 100)
RESERVED: Final = 4096


class SecretFile:
    """Rule 2: a new file, mode 0600, made before the request and filled after it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._reserved = 0

    def create(self) -> None:
        """Create the file or raise `SecretFileError`; call before sending."""
        # O_EXCL also refuses a symlink at the path, dangling or not: nothing is followed.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except FileExistsError:
            raise SecretFileError(
                f"--secret-file {self.path}: the file exists, and is never overwritten (it "
                "may hold another secret); nothing was sent. Name a new file"
            ) from None
        except OSError as exc:
            raise SecretFileError(
                f"--secret-file {self.path}: cannot create it ({exc.strerror}); "
                "nothing was sent"
            ) from None
        if hasattr(os, "fchmod"):  # not on Windows before 3.13; the umask may have cut bits
            os.fchmod(fd, 0o600)
        self._fd = fd
        if hasattr(os, "posix_fallocate"):  # not on macOS or Windows
            try:
                os.posix_fallocate(fd, 0, RESERVED)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                    self.discard()
                    raise SecretFileError(
                        f"--secret-file {self.path}: no room to write it ({exc.strerror}); "
                        "nothing was sent"
                    ) from None
                # a file system that cannot reserve (EOPNOTSUPP ...): go on without
            else:
                self._reserved = RESERVED

    def write(self, secret: str) -> None:
        """Write the secret, flush it to disk, close. Raises `OSError` (a full disk), after
        removing the partial file: it holds no usable secret and would block the next try."""
        fd, self._fd = self._fd, None
        if fd is None:
            raise RuntimeError("SecretFile.write() before create()")
        try:
            data = (secret + "\n").encode()
            size = len(data)
            while data:  # from the start (the reserve did not move the offset)
                data = data[os.write(fd, data):]
            if self._reserved:
                os.ftruncate(fd, size)  # the reserve's zeros after it go
            os.fsync(fd)
        except OSError:
            self._remove_if_ours(fd, only_empty=False)
            raise
        finally:
            os.close(fd)

    def discard(self) -> None:
        """Remove the file if it is still the empty one this object made (rule 2)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self._remove_if_ours(fd, only_empty=True)
        finally:
            os.close(fd)

    def _remove_if_ours(self, fd: int, *, only_empty: bool) -> None:
        try:
            made = os.fstat(fd)
            there = os.stat(self.path)
            # "empty": nothing but the reserve this object made (zeros) was ever in it
            empty = made.st_size in (0, self._reserved)
            if (made.st_dev, made.st_ino) == (there.st_dev, there.st_ino) and not (
                    only_empty and not empty):
                os.unlink(self.path)
        except OSError:
            pass  # gone or replaced meanwhile: not ours to remove
