"""USGS EarthExplorer Machine-to-Machine (M2M) API: Landsat Collection 2 Level-2 (UsgsTm, UsgsEtm, UsgsOt)."""
