"""--assets names are checked against the scenes at hand before any download."""

from dataclasses import dataclass, field

import pytest

from eoharvest.application.asset_check import check_asset_names
from eoharvest.domain.errors import InputError
from eoharvest.domain.models import Scene
from eoharvest.domain.providers import BASIC, ProviderCapabilities


@dataclass
class Listing:
    name: str = "stac-test"
    capabilities: ProviderCapabilities = field(default_factory=lambda: ProviderCapabilities(asset_selection=True))

    def asset_names(self, scene):
        return list(scene.raw.get("assets", {}))


def scene(*assets):
    return Scene("Sentinel-2", "s", None, None, None, raw={"assets": {a: {} for a in assets}}, provider="stac-test")


def test_a_name_no_scene_offers_is_named_with_the_names_they_do_offer():
    with pytest.raises(InputError) as err:
        check_asset_names(Listing(), ["visual", "vizual"], [scene("visual", "B04"), scene("visual", "SCL")])
    text = str(err.value)
    assert "'vizual'" in text and "'visual'" not in text.split("(")[0]
    assert "B04, SCL, visual" in text and "2 stac-test scene(s)" in text


def test_names_match_without_case_and_one_scene_offering_it_is_enough():
    check_asset_names(Listing(), ["VISUAL", "scl"], [scene("visual"), scene("SCL")])


def test_scenes_that_list_no_assets_leave_the_check_to_each_download():
    check_asset_names(Listing(), ["x"], [scene()])


def test_a_whole_product_provider_refuses_any_asset_selection():
    source = Listing(name="copernicus", capabilities=BASIC)
    with pytest.raises(InputError, match="copernicus delivers whole products"):
        check_asset_names(source, ["B04"], [])
    check_asset_names(source, None, [])
