"""Alembic migrations of the feedhub store; `feedhub.store.engine` applies them when a store is opened."""
