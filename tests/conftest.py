"""Suite-wide fixtures: isolation of logging and of secrets between tests."""

import logging

# The geo libraries with their own GEOS/PROJ load before anything loads SpatiaLite, as every
# production process arranges (see eoharvest.adapters.catalog.spatialite.load_spatialite):
# in-process CLI runs open catalogs with preload=False.
import pyogrio  # noqa: F401
import pyproj  # noqa: F401
import pytest

from eoharvest.domain.redaction import SECRETS
from eoharvest.entrypoints.logs import remove_handlers


@pytest.fixture(autouse=True)
def _isolated_logging():
    """The CLI configures logging per invocation; undo it so no test logs into another's streams."""
    yield
    remove_handlers()
    for name in ("eoharvest", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.fixture(autouse=True)
def _no_leftover_secrets():
    yield
    SECRETS.clear()


# -- PostgreSQL + PostGIS (tests/pgcluster.py) -------------------------------------------------
@pytest.fixture(scope="session")
def postgis_cluster():
    """One throw-away cluster for the session; it fails loudly if it cannot start (skipped only
    when EOHARVEST_SKIP_POSTGIS is set)."""
    import os

    from pgcluster import SKIP_VARIABLE, start_cluster

    if os.environ.get(SKIP_VARIABLE):
        pytest.skip(f"{SKIP_VARIABLE} is set: PostgreSQL tests skipped on purpose")
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgis_url(postgis_cluster):
    """The URL of a new, empty database with PostGIS (no eoharvest tables yet)."""
    return postgis_cluster.url(postgis_cluster.new_database())


@pytest.fixture(params=["spatialite", "postgis"])
def catalog_location(request, tmp_path):
    """A catalog location on each back end: a SpatiaLite file path, then a PostgreSQL URL."""
    if request.param == "spatialite":
        return tmp_path / "catalog.db"
    from eoharvest.domain.catalog_location import CatalogUrl

    return CatalogUrl(request.getfixturevalue("postgis_url"))


@pytest.fixture
def sql_catalog(catalog_location):
    """A new catalog repository on each back end (SpatiaLite, then PostGIS), closed afterwards."""
    from eoharvest.adapters.catalog import open_catalog

    repo = open_catalog(catalog_location)
    yield repo
    repo.close()
