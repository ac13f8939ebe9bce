"""Analytics of the security closed loops MS → AE → DE → ES (`002_…`): labelled CNF data
sets, anomaly detection, microservice profiling and forecasting (`004_…` Sections 5–6),
and the decisions and trust built on them."""
