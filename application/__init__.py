"""eoharvest.application layer."""
