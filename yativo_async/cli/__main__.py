"""``python -m yativo_async.cli``: the ``yativo`` command without the console script."""

from . import main

main()
