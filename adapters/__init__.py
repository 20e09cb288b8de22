"""eoharvest.adapters layer."""
