"""The SceneSource of scenes that carry their own download links (provider ``links``)."""

from __future__ import annotations

from typing import Sequence

from eoharvest.domain.errors import InputError
from eoharvest.domain.models import Activation, DownloadDescriptor, Scene, SearchPage
from eoharvest.domain.providers import BASIC, ProviderCapabilities
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.urls import check_url_shape, url_basename

NAME = "links"


class LinksSource:
    """Downloads a scene's ``download_links`` as they are, named by its ``filenames``.

    Nothing is searched and no credentials exist for these hosts. The scene's ``checksums`` and
    ``size`` describe its one file when it has exactly one link (a product of several files
    has no per-file checksum to check).
    """

    name = NAME

    def __init__(self, capabilities: ProviderCapabilities = BASIC) -> None:
        self.capabilities = capabilities

    def supported_platforms(self) -> Sequence[str]:
        return ()

    def search_page(self, query: SearchQuery, ref: object | None) -> SearchPage:
        raise InputError(
            "provider 'links' has no search: it downloads scenes built from their download links",
            hint="search with another provider, or pass Scene(..., download_links, filenames, ...) to download_all",
        )

    def activate(self, scene: Scene) -> Activation:
        return Activation(ready=True)

    def download_descriptors(self, scene: Scene, assets: Sequence[str] | None = None) -> list[DownloadDescriptor]:
        if assets is not None:
            raise InputError(
                f"scene {scene.scene_id!r} is a list of links; asset selection {list(assets)!r} does not apply",
                hint="leave out assets/--assets, or give the scene only the links you want",
            )
        links = scene.download_links
        if not links:
            raise InputError(f"scene {scene.scene_id!r} has no download_links", hint="give the URLs of its files")
        names = scene.filenames
        if names and len(names) != len(links):
            raise InputError(
                f"scene {scene.scene_id!r} has {len(links)} download link(s) but {len(names)} file name(s)",
                hint="give one file name per link, or none to use the last segment of each URL",
            )
        descriptors = []
        for index, url in enumerate(links):
            check_url_shape(url)
            name = names[index] if names else url_basename(url)
            if not name:
                raise InputError(
                    f"scene {scene.scene_id!r}: cannot name the file of {url!r} (its path ends in '/')",
                    hint="give filenames=[...] with the scene",
                )
            one = len(links) == 1
            descriptors.append(
                DownloadDescriptor(
                    url=url,
                    filename=name,
                    size=scene.size if one else None,
                    checksums=scene.checksums if one else (),
                )
            )
        return descriptors
