"""eoharvest.migrations.versions layer."""
