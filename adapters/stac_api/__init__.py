"""The read side of `eoharvest serve`: the catalog as a STAC API (stac-fastapi over the catalog port)."""
