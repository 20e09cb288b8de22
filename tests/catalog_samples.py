"""Scenes and query filters shared by the tests that compare catalog query paths (the SQLite fast
path with the SQLAlchemy path, PostGIS with SpatiaLite)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from fakes import catalog_scene
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, box

from eoharvest.domain.aoi_box import AoiBox
from eoharvest.domain.catalog_fields import SORT_FIELDS
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum, Scene

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
PROVIDERS = ("cdse", "earth-search", "usgs")
PLATFORMS = ("Sentinel-2", "Sentinel-1", "Landsat-8")
ANTIMERIDIAN = MultiPolygon([box(179, -18, 180, -15), box(-180, -18, -179, -15)])
AOIS = [
    None,
    Footprint.from_bbox(10, 45, 12, 47),
    Footprint.from_bbox(10.2, 45.2, 10.4, 45.4),
    Footprint.from_bbox(-5, 40, 30, 58),
    Footprint(ANTIMERIDIAN),
    AoiBox(10, 45, 12, 47),  # boxes as the CLI reads them (no shapely; BuildMbr on SpatiaLite)
    AoiBox(10.2, 45.2, 10.4, 45.4),
]
WHERES = [
    None,
    "cloud < 20",
    "NOT cloud < 20",
    "cloud IS NULL OR platform = 'Landsat-8'",
    "name LIKE 'p\\_1%'",
    "name NOT LIKE 'P_%'",
    "provider IN ('cdse', 'usgs') AND cloud BETWEEN 5 AND 60",
    "provider NOT IN ('cdse')",
    "acq_date >= '2024-03-01' AND acq_date < '2024-09-01'",
    "online = FALSE OR size > 500",
    "size IS NOT NULL AND NOT (scene_key IS NULL)",
    "state = 'none'",
    "state IN ('available', 'queued') OR state != 'fetching'",
    "first_seen <= '2100-01-01' AND last_seen > '2000-01-01'",
    "scene_id = 'x'' OR 1=1 --'",
]


def sample_scenes() -> list[Scene]:
    rng = random.Random(7)
    out = []
    for i in range(60):
        west, south = rng.uniform(-10, 25), rng.uniform(40, 55)
        kwargs = dict(
            provider=rng.choice(PROVIDERS),
            bbox=(west, south, west + rng.uniform(0.2, 3), south + rng.uniform(0.2, 3)),
            when=T0 + timedelta(hours=rng.randrange(0, 24 * 365)),
            cloud=None if rng.random() < 0.2 else round(rng.uniform(0, 100), 1),
            platform=rng.choice(PLATFORMS),
            product_key=f"P_{rng.randrange(25)}",  # shared across providers: de-duplication
            scene_key=None if rng.random() < 0.3 else f"k{i}",
            size=None if rng.random() < 0.3 else rng.randrange(0, 1000),
            online=rng.random() < 0.8,
            download_links=(f"https://example.test/{i}",) if i % 2 else (),
            filenames=(f"s{i}.zip",) if i % 3 else (),
            checksums=(Checksum("md5", f"{i:032x}", "odata"),) if i % 4 == 0 else (),
            raw={"i": i, "nested": {"a": [1, 2]}} if i % 5 else {},
        )
        out.append(catalog_scene(f"s{i}", **kwargs))
    out.append(catalog_scene("fiji", footprint=Footprint(ANTIMERIDIAN), product_key="p_1fiji", cloud=None))
    out.append(Scene("Sentinel-1", "nofootprint", None, None, None, provider="cdse", product_key="P_3"))
    out.append(Scene("Sentinel-1", "nodate", Footprint.from_bbox(10, 45, 11, 46), None, 3.0, provider="usgs"))
    return out


filters = st.builds(
    CatalogFilter.create,
    aoi=st.sampled_from(AOIS),
    predicate=st.sampled_from(["intersects", "contains", "within"]),
    start=st.sampled_from([None, "2024-02-01", "2024-06-15T12:00:00Z"]),
    end=st.sampled_from([None, "2024-07-01", "2024-12-31"]),
    cloud_min=st.sampled_from([None, 0, 10]),
    cloud_max=st.sampled_from([None, 30, 100]),
    platforms=st.lists(st.sampled_from(PLATFORMS), max_size=2, unique=True),
    providers=st.lists(st.sampled_from(PROVIDERS), max_size=2, unique=True),
    states=st.lists(st.sampled_from(["none", "queued", "available", "fetching"]), max_size=2, unique=True),
    where=st.sampled_from(WHERES),
    sort=st.sampled_from(SORT_FIELDS),
    descending=st.booleans(),
    limit=st.sampled_from([None, 1, 3, 100]),
    distinct_products=st.booleans(),
)
