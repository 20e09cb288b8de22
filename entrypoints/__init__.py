"""eoharvest.entrypoints layer."""
