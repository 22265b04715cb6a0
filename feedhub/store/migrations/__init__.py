"""Alembic migrations of the store; `feedhub.store.engine` applies them when a store opens."""
