"""BDI agents, the NFV-A auction and the bid function."""
