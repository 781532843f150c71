"""``YATIVO_LOG=debug|info``: the SDK's log on stderr for people who have not set up logging.

Rule: configuring logging is the application's business. This only acts when the variable
is set AND neither the root logger nor the ``yativo_async`` logger has a handler (nothing
configured logging); then it gives ``yativo_async`` one stderr handler at that level, once.
Nothing is done at import time: `YativoClient` calls `configure_from_env()` when built.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Final

__all__ = ["LOGGER_NAME", "configure_from_env"]

LOGGER_NAME: Final = "yativo_async"
ENV_VAR: Final = "YATIVO_LOG"
_LEVELS: Final[Mapping[str, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_from_env(
    env: Mapping[str, str] | None = None,
    *,
    logger: logging.Logger | None = None,
    root: logging.Logger | None = None,
) -> logging.Handler | None:
    """Apply ``YATIVO_LOG``; returns the handler it added (``None`` when it did nothing).

    Raises:
        ValueError: ``YATIVO_LOG`` is set to something other than debug, info, warning or
            error (a typo should not silently mean "no logs").
    """
    value = (os.environ if env is None else env).get(ENV_VAR, "").strip().lower()
    if not value:
        return None
    level = _LEVELS.get(value)
    if level is None:
        raise ValueError(
            f"{ENV_VAR}={value!r} is not a log level: use one of {', '.join(_LEVELS)}"
        )
    logger = logger if logger is not None else logging.getLogger(LOGGER_NAME)
    root = root if root is not None else logging.getLogger()
    if logger.handlers or root.handlers:
        return None  # the application configured logging (or we already did): hands off
    handler = logging.StreamHandler()  # stderr
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
