"""Tiny HEAR modules whose ``load_model`` fails, for the load errors of :func:`hear_gear_embed.hear.loading.load_module_model`
and of the commands that load modules (``embed --module``, ``evaluate``, ``gear``: usage errors, exit status 2;
``validate``: a failed check, exit status 1). A module with a syntax error is written by the tests themselves
(a file that does not parse would stop the linters)."""
