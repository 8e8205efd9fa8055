"""Operator scripts; a package so tests can `import scripts.ensure_services`."""
