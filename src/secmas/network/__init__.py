"""Infrastructure model, path algorithms and the flow-level data-plane simulator."""
