"""Connects the provider: its SceneSource built on the composition root's wiring."""


from __future__ import annotations

from typing import TYPE_CHECKING

from eoharvest.adapters.providers.stac.collections import FLAVOURS, flavour_for
from eoharvest.adapters.providers.stac.search import StacSource
from eoharvest.adapters.providers.stac.signing import SasSigner
from eoharvest.adapters.providers.wiring import ProviderConnection, ProviderWiring
from eoharvest.domain.errors import InputError

if TYPE_CHECKING:
    from eoharvest.adapters.providers.table import ProviderSpec


def connect(wiring: ProviderWiring, spec: ProviderSpec, *, url: str | None = None, **options: object) -> ProviderConnection:
    """A STAC source for ``spec`` at ``url`` (default: the spec's configured endpoint).

    A generic entry takes its flavour from the URL and is named after it when it is a known
    server, so a mirror of Planetary Computer still gets its assets signed.
    """
    if options:
        raise InputError(f"unknown option(s) for {spec.name}: {', '.join(sorted(options))}")
    base = url or wiring.endpoint(spec.endpoints[0])
    flavour = spec.flavour or flavour_for(base)
    name = spec.name if spec.flavour or flavour == "generic" else flavour
    signer = None
    if flavour == "planetary-computer":
        sas_url = wiring.endpoint("planetary_computer_sas_url")
        signer = SasSigner(wiring.json_api(name, sas_url), sas_url, wiring.clock)
    source = StacSource(
        wiring.json_api(name, base), base, name=name, flavour=flavour, signer=signer, capabilities=spec.capabilities,
        product_types=spec.product_types if spec.flavour else FLAVOURS[flavour],
    )
    return ProviderConnection(source, download_endpoint=base)
