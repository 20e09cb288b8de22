import pytest

from eoharvest.domain.product_keys import product_key, scene_key


@pytest.mark.parametrize(
    "name, key",
    [
        ("S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.SAFE", "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"),
        ("S2B_MSIL2A_20250731T130249_N0511_R095_T24MWV_20250731T132745.SAFE", "S2B_MSIL2A_20250731T130249_N0511_R095_T24MWV_20250731T132745"),
        ("S1A_IW_GRDH_1SDV_20240604T110100_20240604T110131_054172_069690_E33E.SAFE.zip", "S1A_IW_GRDH_1SDV_20240604T110100_20240604T110131_054172_069690_E33E"),
    ],
)
def test_product_keys_drop_only_the_container_extension(name, key):
    assert product_key(name) == key


def test_a_reprocessed_s2_baseline_is_another_product_of_the_same_scene():
    old = "S2A_MSIL1C_20200808T010311_N0209_R045_T54PXA_20200808T030000"
    new = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505.SAFE"
    assert product_key(old) != product_key(new)
    assert scene_key(old) == scene_key(new) == "S2A_MSIL1C_20200808T010311_R045_T54PXA"


def test_s1_scene_keys_ignore_the_unique_id():
    a = "S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E_0C44"
    b = "S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E"
    assert scene_key(a) == scene_key(b)


def test_landsat_scene_keys_ignore_the_processing_date():
    assert scene_key("LC08_L2SP_033032_20231008_20231017_02_T1") == scene_key("LC08_L2SP_033032_20231008_02_T1")


def test_unknown_names_have_no_scene_key():
    assert scene_key("mt_m_4911664_se_11_060_20231117_20240103") is None


@pytest.mark.parametrize(
    "name",
    [
        "LC08_L2SP_033032_20231008_20231017_02_T1",  # USGS M2M displayId (full product id)
        "LC08_L2SP_033032_20231008_02_T1",  # Earth Search and Planetary Computer item id
        "LC08_L2SP_033032_20231008_20231017_02_T1.tar",  # the M2M bundle
    ],
)
def test_every_form_of_a_landsat_product_id_has_one_product_key(name):
    assert product_key(name) == "LC08_L2SP_033032_20231008_02_T1"


def test_landsat_levels_and_tiers_stay_different_products():
    assert product_key("LC08_L1TP_033032_20231008_20231017_02_T1") != product_key("LC08_L2SP_033032_20231008_20231017_02_T1")
    assert product_key("LC08_L2SP_033032_20231008_20231017_02_T2") != product_key("LC08_L2SP_033032_20231008_20231017_02_T1")
