"""Alembic migrations of the outcome register (see activities.register_db.migrate)."""
