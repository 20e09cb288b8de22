import pytest

from eoharvest.domain.errors import InputError
from eoharvest.domain.platforms import canonical_platform, canonical_platforms


@pytest.mark.parametrize("name", ["Sentinel-2", "S2", "sentinel2", "SENTINEL-2", "sentinel_2", " s2 "])
def test_sentinel_2_aliases_resolve_case_insensitively(name):
    assert canonical_platform(name) == "Sentinel-2"


def test_unknown_platform_error_lists_the_supported_names():  # B-21
    with pytest.raises(InputError) as info:
        canonical_platform("Sentinel-9", ["Sentinel-1", "Sentinel-2"])
    message = str(info.value)
    assert "unknown platform 'Sentinel-9'" in message
    assert "Sentinel-1, Sentinel-2" in message
    assert info.value.exit_code == 2


def test_a_known_platform_the_provider_does_not_support_is_refused():
    with pytest.raises(InputError, match="supported platforms: Sentinel-2"):
        canonical_platform("Landsat-8", ["Sentinel-2"])


def test_provider_specific_names_outside_the_table_resolve_against_the_supported_list():
    assert canonical_platform("SENTINEL-2-L2A", ["sentinel-2-l2a"]) == "sentinel-2-l2a"


def test_lists_are_deduplicated_and_none_means_all_supported():
    assert canonical_platforms(["S2", "Sentinel-2", "s1"]) == ("Sentinel-2", "Sentinel-1")
    assert canonical_platforms(None, ["A", "B"]) == ("A", "B")


def test_an_empty_list_of_platforms_is_an_error():
    with pytest.raises(InputError, match="no platform given"):
        canonical_platforms([])
