"""Breaks the import: the module raises while it is imported (as one whose import-time setup fails would).
Expected: ``hear-validator`` crashes (FAIL); ``validate_module`` raises ImportError, chained to this RuntimeError."""

raise RuntimeError("set-up at import failed")
