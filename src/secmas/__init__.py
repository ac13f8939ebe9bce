"""secmas: a secure multi-agent system for near-real-time control of 6G network services."""

__version__ = "0.1.0"
