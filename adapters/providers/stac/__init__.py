"""STAC API providers (Earth Search, Planetary Computer, CDSE STAC, any item-search API).

Modules: ``search`` (the SceneSource: item search and paging), ``items`` (item -> Scene, asset
descriptors), ``collections`` (platform -> collection per server flavour), ``signing``
(Planetary Computer SAS tokens).
"""
