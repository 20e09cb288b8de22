"""NASA's Common Metadata Repository (CMR) with Earthdata Login downloads.

Modules: ``source`` (the SceneSource: collection lookup, Search-After paging, descriptors),
``query`` (search parameters), ``items`` (UMM-G granule -> Scene, files, STAC item), ``geometry``
(granule footprints), ``formats`` (the same granule in CMR's ATOM and STAC formats),
``collections`` (platforms -> collections), ``catalogue`` (collection look-up), ``login``
(Earthdata Login user tokens), ``earthdata`` (the download auth flow: tokens, the login redirect,
cookies), ``stac`` (a scene as a STAC Item), ``errors`` (CMR and login error bodies).
"""
