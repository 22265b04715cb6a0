"""feedhub: a self-hosted RSS/Atom aggregator and republisher."""

__version__ = "0.1.0"
