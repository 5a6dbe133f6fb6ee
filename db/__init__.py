"""Database layer: models, queries, the reference registry and Alembic migrations."""
