"""eoharvest: search, download and catalog satellite imagery."""
