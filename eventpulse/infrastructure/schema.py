"""Schema management: alembic migrations, run programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(dsn: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    # `%` is alembic's interpolation character; a DSN may hold it (escaped passwords).
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(dsn).replace("%", "%%"))
    return config


def upgrade(dsn: str, revision: str = "head") -> None:
    """Create or upgrade the schema; safe to run from several processes at once."""
    command.upgrade(alembic_config(dsn), revision)


def sqlalchemy_url(dsn: str) -> str:
    """SQLAlchemy spelling of a libpq URL, using the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix) :]
    return dsn
