"""T-18: provider JSON parsers raise nothing but documented errors on arbitrary input."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eoharvest.adapters.providers.copernicus.items import scene_from_odata_product
from eoharvest.adapters.providers.stac.items import asset_descriptor, scene_from_stac_item, select_assets
from eoharvest.domain.checksums import from_multihash
from eoharvest.domain.errors import EoharvestError

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
keys = st.sampled_from(
    ["id", "type", "geometry", "properties", "assets", "links", "collection", "bbox",
     "Id", "Name", "ContentLength", "Checksum", "ContentDate", "GeoFootprint", "Footprint", "Online", "Attributes"]
)
items = st.dictionaries(keys | st.text(max_size=8), json_values, max_size=10)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(items)
def test_the_stac_mapper_accepts_or_rejects_with_a_documented_error(item):
    try:
        scene = scene_from_stac_item(item, provider="p", base_url="https://example.test/v1")
    except EoharvestError:
        return
    for key, asset in select_assets(scene.raw, None).items():
        try:
            asset_descriptor(key, asset, item_url="https://example.test/v1")
        except EoharvestError:
            pass


@FAST
@given(items)
def test_the_odata_mapper_accepts_or_rejects_with_a_documented_error(product):
    try:
        scene_from_odata_product(product)
    except EoharvestError:
        pass


@FAST
@given(st.text(alphabet=string.hexdigits, max_size=140) | st.text(max_size=20))
def test_multihash_decoding_never_raises(text):
    from_multihash(text)
