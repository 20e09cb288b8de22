"""What a provider can do, declared once in its provider-table entry instead of being sniffed.

The application asks these questions of a ``SceneSource`` (``source.capabilities``) before it
relies on a feature, so an unsupported request fails up front with a clear ``InputError``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The search option of a source declaring ``publication_time_filter``: a UTC datetime; only
#: scenes published (or updated) at or after it are returned.
PUBLISHED_SINCE = "published_since"


@dataclass(frozen=True)
class ProviderCapabilities:
    """Declared features of one provider API."""

    #: products are sets of named assets and ``download_descriptors(scene, assets=[...])`` picks some
    asset_selection: bool = False
    #: some products must be ordered/activated before they can be downloaded
    needs_activation: bool = False
    #: the source implements the ``OrderingSource`` port: orders are placed, polled and
    #: reconciled by label, and kept in the catalog across runs (see domain/orders.py)
    ordering: bool = False
    #: a placed order can be removed at the provider (USGS ``download-order-remove``)
    order_cancel: bool = False
    #: order API calls (place, poll, look up) per second the provider allows one account;
    #: None: no limit declared
    order_rate: float | None = None
    #: the provider always applies the cloud range itself (or drops its count when it cannot),
    #: so a search's ``total`` stays true; sources that decide per page set ``SearchPage.cloud_filtered``
    server_cloud_filter: bool = False
    #: searches can be restricted by publication (ingestion/update) time, not only acquisition
    #: time: the source honours the :data:`PUBLISHED_SINCE` search option and sets each scene's
    #: ``published``, so a saved search's watermark can follow publication time (domain/watch.py)
    publication_time_filter: bool = False
    #: keyword options of ``scenes(...)`` the provider honours besides platforms, AOI, dates and
    #: cloud range (``limit`` and ``max_pages`` belong to every search); any other is refused
    search_options: frozenset[str] = frozenset()


#: What a source that declares nothing can do: whole products, no server-side cloud filter.
BASIC = ProviderCapabilities()
