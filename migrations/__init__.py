"""eoharvest.migrations layer."""
