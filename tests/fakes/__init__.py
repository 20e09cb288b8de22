"""In-memory test doubles of every port (import as ``from fakes import ...``)."""
from fakes.sources import (  # noqa: F401
    FakeClock,
    FakeCredentials,
    FakeDownloader,
    FakeFetcher,
    FakeSceneSource,
    FakeVectorReader,
    bind_fake_downloaders,
    bind_to_source,
    make_scene,
)
from fakes.catalog import InMemoryCatalog, catalog_scene  # noqa: E402, F401
from fakes.transfers import FakeArchives, FakeTransfer  # noqa: E402, F401
from fakes.ordering import FakeOrderingSource  # noqa: E402, F401
from fakes.gauge import ConcurrencyGauge  # noqa: E402, F401
