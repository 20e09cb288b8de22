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
