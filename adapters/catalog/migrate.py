"""Create and migrate the catalog schema with Alembic, driven from code (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text

import eoharvest.migrations
from eoharvest.adapters.catalog import revisions
from eoharvest.domain.errors import CatalogError

# The folder of the imported package, not "eoharvest:migrations": Alembic resolves that form
# by joining "migrations" onto the folder of `eoharvest`, which is wrong whenever the layers
# are mapped from separate folders (a default editable install serves `eoharvest` from facade/
# and the migrations from migrations/ through an import hook).
SCRIPT_LOCATION = Path(eoharvest.migrations.__file__).resolve().parent


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations, bound to ``connection``."""
    config = Config()
    # Config values go through configparser interpolation: a literal "%" must be doubled.
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows (read without Alembic: see ``revisions``)."""
    return revisions.head_revision()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


check_not_newer = revisions.check_not_newer


def ensure_spatial_metadata(connection: Connection) -> bool:
    """Run InitSpatialMetaData on a new SpatiaLite file; True when it did."""
    if connection.dialect.name != "sqlite":
        return False
    if inspect(connection).has_table("spatial_ref_sys"):
        return False
    # 'WGS84' inserts only the WGS84 family of SRIDs: fast, and all the catalog needs.
    ok = connection.execute(text("SELECT InitSpatialMetaData('WGS84')")).scalar()
    if ok != 1:
        raise CatalogError("SpatiaLite could not initialise the spatial metadata tables")
    return True


def upgrade(writer: Engine, revision: str = "head") -> bool:
    """Bring the schema to ``revision``; returns True when InitSpatialMetaData ran."""
    with writer.begin() as connection:
        current = current_revision(connection)
        check_not_newer(current)
        created = ensure_spatial_metadata(connection)
        if not (revision == "head" and current == head_revision()):
            command.upgrade(alembic_config(connection), revision)
    return created


def downgrade(writer: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` ("base" removes every catalog table)."""
    with writer.begin() as connection:
        command.downgrade(alembic_config(connection), revision)
