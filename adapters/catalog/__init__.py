"""Catalog adapters: SpatiaLite (and later PostGIS) repositories."""
