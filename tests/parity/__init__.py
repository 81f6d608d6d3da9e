"""Parity with the authors' hear21passt 0.0.26 on identical weights (run by ``nox -s parity``)."""
