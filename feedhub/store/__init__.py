"""The store: SQLAlchemy Core over SQLite or PostgreSQL, behind the `Store` facade."""
