"""Experiments: sweeps of scenarios x seeds x parameters, run in parallel, aggregated and
plotted (`secmas sweep`)."""
