"""One product-type vocabulary, mapped per provider in the provider table."""

import pytest

from eoharvest.adapters.providers.table import PROVIDERS, spec_for
from eoharvest.domain import product_types
from eoharvest.domain.errors import InputError


def test_every_provider_table_speaks_the_one_vocabulary():
    for spec in PROVIDERS:
        assert spec.product_types, f"{spec.name} declares no product types"
        for platform, types in spec.product_types.items():
            assert platform in spec.platforms
            for level, names in types.items():
                assert level == "" or level in product_types.LEVELS, (spec.name, platform, level)
                assert names and all(isinstance(n, str) and n for n in names)


def test_l2a_is_each_providers_own_name_for_sentinel2_level_2a():
    expected = {"copernicus": ("S2MSI2A",), "earth-search": ("sentinel-2-c1-l2a",),
                "planetary-computer": ("sentinel-2-l2a",), "cdse-stac": ("sentinel-2-l2a",)}
    for name, names in expected.items():
        table = spec_for(name).product_types
        assert product_types.resolve("l2a", ["Sentinel-2"], table, provider=name) == {"Sentinel-2": names}


def test_names_compare_without_case_or_padding_underscores():
    table = spec_for("copernicus").product_types
    assert product_types.resolve("ol_1_efr", ["Sentinel-3"], table, provider="c") == {"Sentinel-3": ("OL_1_EFR___",)}
    assert product_types.resolve("IW_SLC_1S", ["Sentinel-1"], table, provider="c") == {"Sentinel-1": ("IW_SLC__1S",)}
    assert product_types.resolve("L1C,L2A", ["Sentinel-2"], table, provider="c") == {"Sentinel-2": ("S2MSI1C", "S2MSI2A")}


def test_grd_on_copernicus_covers_every_mode_and_resolution_but_not_the_cog_copies():
    grd = spec_for("copernicus").product_types["Sentinel-1"]["GRD"]
    assert {"IW_GRDH_1S", "EW_GRDM_1S", "S3_GRDH_1S", "S1_GRDF_1S"} <= set(grd)
    assert not any(t.endswith("-COG") for t in grd)


def test_a_multi_platform_search_keeps_only_the_platforms_that_have_the_type():
    table = spec_for("copernicus").product_types
    assert product_types.resolve("L2A", ["Sentinel-1", "Sentinel-2"], table, provider="c") == {"Sentinel-2": ("S2MSI2A",)}


def test_an_unknown_type_names_itself_and_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        product_types.resolve("L2B", ["Sentinel-2"], spec_for("copernicus").product_types, provider="copernicus")
    assert "copernicus has no product type 'L2B' for Sentinel-2" in str(err.value)
    assert "L1C (S2MSI1C), L2A (S2MSI2A)" in err.value.hint


def test_no_product_type_means_no_restriction():
    assert product_types.resolve(None, ["Sentinel-2"], spec_for("copernicus").product_types, provider="c") == {}


@pytest.mark.parametrize("value", ["", " , ", 42, {"L2A": 1}])
def test_an_empty_or_non_text_product_type_is_an_input_error(value):
    with pytest.raises(InputError, match="product type"):
        product_types.requested(value)
