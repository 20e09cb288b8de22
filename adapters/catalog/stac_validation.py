"""Offline validation of exported STAC Items: pystac's validation API, never the network.

pystac's default validator fetches every schema it does not ship over HTTP. This one resolves
``$ref``s only from local files and refuses any other: the core Item schema and the GeoJSON
schemas pystac ships (``pystac.validation.local_validator``), and the schemas of the extensions
the export itself adds, written in this repository from their specifications
(``schemas/``). Extensions an item already declared are not checked (their schemas are not
here); see README.md, "STAC export".
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Iterable

import jsonschema
import pystac
from pystac import STACObjectType
from pystac.validation import STACValidator, validate_dict
from pystac.validation.local_validator import get_local_schema_cache
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from eoharvest.domain.errors import CatalogError

ALTERNATE_ASSETS = "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
#: the extension schemas the export may add, by identifier: file under schemas/
LOCAL_EXTENSIONS = {ALTERNATE_ASSETS: "alternate-assets-v1.2.0.json", EO: "eo-v1.1.0.json"}


def _extension_schema(name: str) -> dict[str, Any]:
    text = resources.files("eoharvest.adapters.catalog").joinpath("schemas", name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class OfflineValidator(STACValidator):
    """A pystac ``STACValidator`` over local schemas only: an unknown schema is an error."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = dict(get_local_schema_cache())
        for uri, name in LOCAL_EXTENSIONS.items():
            self.schemas[uri] = _extension_schema(name)
        # No ``retrieve``: a $ref that is not one of these is Unresolvable, never a download.
        self.registry: Registry[Any] = Registry().with_resources(
            (uri, Resource.from_contents(schema, default_specification=DRAFT7)) for uri, schema in self.schemas.items()
        )
        self._validators: dict[str, jsonschema.Draft7Validator] = {}

    def _check(self, uri: str, stac_dict: dict[str, Any]) -> str:
        validator = self._validators.get(uri)
        if validator is None:
            if uri not in self.schemas:
                raise CatalogError(f"no local schema for {uri}", hint="only the extensions the export adds are checked")
            validator = jsonschema.Draft7Validator(self.schemas[uri], registry=self.registry)
            self._validators[uri] = validator
        error = jsonschema.exceptions.best_match(validator.iter_errors(stac_dict))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(the item)"
            raise pystac.STACValidationError(f"{where}: {error.message} (schema {uri})", source=[error])
        return uri

    def validate_core(
        self, stac_dict: dict[str, Any], stac_object_type: STACObjectType, stac_version: str, href: str | None = None
    ) -> str:
        kind = {STACObjectType.ITEM: "item", STACObjectType.COLLECTION: "collection", STACObjectType.CATALOG: "catalog"}
        return self._check(
            f"https://schemas.stacspec.org/v{stac_version}/{kind[stac_object_type]}-spec/json-schema/"
            f"{kind[stac_object_type]}.json",
            stac_dict,
        )

    def validate_extension(
        self,
        stac_dict: dict[str, Any],
        stac_object_type: STACObjectType,
        stac_version: str,
        extension_id: str,
        href: str | None = None,
    ) -> str:
        return self._check(extension_id, stac_dict)


def validate_item(item: dict[str, Any], added_extensions: Iterable[str], validator: OfflineValidator) -> None:
    """Check ``item`` against the core Item schema of its ``stac_version`` and the extensions
    the export added; a failure is a ``CatalogError`` naming the item, the field and the rule."""
    try:
        validate_dict(item, STACObjectType.ITEM, str(item["stac_version"]), extensions=list(added_extensions),
                      validator=validator)  # fmt: skip
    except pystac.STACValidationError as exc:
        raise CatalogError(
            f"exported item {item.get('id')!r} is not a valid STAC Item: {exc}",
            hint="leave it out (--where \"scene_id != '...'\") or export --format geojson; please report it",
        ) from None
