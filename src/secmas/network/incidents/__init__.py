"""secmas's own CNF incidents, one module each, registered under the `secmas.incidents`
entry-point group in its `pyproject.toml` as any distribution registers its own."""
