"""Catalog records as the items the server answers with.

The item is the catalog's lossless STAC item (:func:`eoharvest.adapters.catalog.stac_export.stac_item`:
the provider's own item, downloaded assets pointing at the local file, the remote href kept
under ``alternate``), then made fit for a server:

* every asset says whether it is on this machine (``eoharvest:local``);
* a local file's href is what :class:`LocalHref` makes of its path: the app's default is the
  file's route on this server (:func:`.files.file_route_href`); :func:`file_uri` gives a
  ``file://`` URI (a bare absolute path would be resolved by HTTP clients against the server's
  own URL);
* an asset naming a member of the product's extracted archive points at the member's route
  (:func:`.members.link_members`);
* ``collection`` is set (:func:`.collections.item_collection`) and the links point into this
  API (self, parent, collection, root), the provider's own links kept;
* the ``eoharvest:*`` properties carry the catalog fields the queryables name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import pystac

from eoharvest.adapters.catalog.stac_export import stac_item
from eoharvest.adapters.catalog.stac_validation import EO
from eoharvest.adapters.stac_api.collections import item_collection
from eoharvest.adapters.stac_api.members import MemberRef, link_members
from eoharvest.domain.catalog_query import CatalogRecord
from eoharvest.domain.errors import CatalogError

log = logging.getLogger("eoharvest.serve")

#: (record, verified local path, this API's base URL) -> asset href; the app passes
#: :func:`.files.file_route_href` (a URL under the base URL)
LocalHref = Callable[[CatalogRecord, str, str], str]
_OWN_RELS = {"self", "parent", "collection", "root"}


def file_uri(record: CatalogRecord, path: str, base_url: str) -> str:
    """The default local href: a ``file://`` URI of the verified file."""
    return Path(path).as_uri()


def served_item(record: CatalogRecord, base_url: str, local_href: LocalHref = file_uri,
                members: Sequence[MemberRef] = ()) -> dict[str, Any]:  # fmt: skip
    """The STAC item of ``record`` as this API serves it (``base_url`` ends with a slash);
    ``members`` are the product's recorded archive members (:func:`.members.link_members`)."""
    scene = record.scene
    try:
        item = stac_item(record, validate=False)
    except (CatalogError, pystac.STACError, pystac.STACTypeError, KeyError, TypeError, ValueError) as exc:
        # One unreadable raw record must not fail the whole page: serve what the catalog knows.
        log.warning("serving a minimal item for %s %s: %s", scene.provider, scene.scene_id, exc)
        item = _minimal_item(record)
    collection = item_collection(scene.raw, scene.platformname)
    item["collection"] = collection
    locals_ = {str(Path(p).as_posix()): p for p in record.local_paths}
    for asset in item.get("assets", {}).values():
        local = locals_.get(asset.get("href"))
        asset["eoharvest:local"] = local is not None
        if local is not None:
            asset["href"] = local_href(record, local, base_url)
    link_members(item, members, base_url)
    props = item.setdefault("properties", {})
    props.update({
        "eoharvest:provider": scene.provider,
        "eoharvest:platform": scene.platformname,
        "eoharvest:product_key": scene.product_key,
        "eoharvest:state": record.download_state,
        "eoharvest:online": scene.online,
        "eoharvest:first_seen": _iso(record.first_seen),
        "eoharvest:last_seen": _iso(record.last_seen),
    })  # fmt: skip
    if scene.scene_key:
        props["eoharvest:scene_key"] = scene.scene_key
    if scene.size is not None:
        props["eoharvest:size"] = scene.size
    collection_url = f"{base_url}collections/{collection}"
    links = [link for link in item.get("links", []) if link.get("rel") not in _OWN_RELS]
    item["links"] = [
        {"rel": "self", "type": "application/geo+json", "href": f"{collection_url}/items/{item['id']}"},
        {"rel": "parent", "type": "application/json", "href": collection_url},
        {"rel": "collection", "type": "application/json", "href": collection_url},
        {"rel": "root", "type": "application/json", "href": base_url},
        *links,
    ]
    return item


def _minimal_item(record: CatalogRecord) -> dict[str, Any]:
    """An item from the catalog's columns alone, the local files as its assets."""
    scene = record.scene
    footprint = scene.footprint
    properties: dict[str, Any] = {"datetime": _iso(scene.acq_date) if scene.acq_date else None}
    if scene.cloudcover_percentage is not None:
        properties["eo:cloud_cover"] = scene.cloudcover_percentage
    assets = {Path(p).name: {"href": Path(p).as_posix(), "roles": ["data"]} for p in record.local_paths}
    return {
        "type": "Feature", "stac_version": "1.1.0",
        "stac_extensions": [EO] if scene.cloudcover_percentage is not None else [],
        "id": scene.scene_id, "geometry": footprint.rfc7946_geojson if footprint else None,
        **({"bbox": list(footprint.rfc7946_bbox)} if footprint else {}),
        "properties": properties, "links": [], "assets": assets,
    }  # fmt: skip


def _iso(value: Any) -> str:
    return str(value.isoformat()).replace("+00:00", "Z")
