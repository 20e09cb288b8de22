"""Copernicus Data Space Ecosystem: OData catalogue search, Keycloak tokens, zipper downloads.

Modules: ``source`` (the SceneSource: paging past the $skip limit, activation, descriptors),
``query`` (OData filters and collections), ``items`` (product -> Scene), ``auth`` (tokens),
``errors`` (OData error answers).
"""
