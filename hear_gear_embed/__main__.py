"""``python -m hear_gear_embed``: the ``hear-gear`` command line."""

from .cli import main

raise SystemExit(main())
