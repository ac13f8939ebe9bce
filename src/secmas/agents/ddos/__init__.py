"""The DDoS resilience strategy of Section 5.1 of `003_…`: VNFs, capabilities and agents."""
