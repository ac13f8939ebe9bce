"""The `secmas` command line."""
