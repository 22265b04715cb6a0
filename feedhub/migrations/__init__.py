"""Alembic migrations of the feedhub store; `feedhub.store` applies them on open."""
