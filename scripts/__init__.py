"""Operator scripts (the bootstrap of the two commands); a package so tests can import them."""
