"""secmas's own attacks, one module each, registered under the `secmas.attacks` entry
points of its `pyproject.toml` as a user's package registers its own
(`secmas.network.attack`)."""
