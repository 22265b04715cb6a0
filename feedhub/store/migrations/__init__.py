"""Alembic migrations of the feedhub store; `feedhub.store.facade` applies them on open."""
