import dataclasses
import sys
from datetime import datetime, timezone

import pytest

from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum, DownloadResult, FailedDownload, Scene

UTC = timezone.utc


def make_scene(**kw):
    base = dict(
        platformname="Sentinel-2",
        scene_id="S2B_T24MWV_20250731T130245_L2A",
        footprint=Footprint.from_bbox(0, 0, 1, 1),
        acq_date=datetime(2025, 7, 31, 13, 2, 49, tzinfo=UTC),
        cloudcover_percentage=12.5,
        download_links=["https://example.com/a.tif"],
        filenames=["a.tif"],
        raw={"id": "x"},
    )
    base.update(kw)
    return Scene(**base)


def test_scene_follows_the_reference_constructor_and_is_immutable():
    scene = make_scene()
    assert scene.download_links == ("https://example.com/a.tif",)
    assert scene.raw_result == {"id": "x"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        scene.scene_id = "other"  # type: ignore[misc]


def test_product_key_defaults_to_the_scene_id():
    assert make_scene().product_key == "S2B_T24MWV_20250731T130245_L2A"
    assert make_scene(product_key="S2B_MSIL2A_X").product_key == "S2B_MSIL2A_X"


def test_scene_rejects_naive_dates_empty_ids_and_negative_sizes():
    with pytest.raises(InputError, match="timezone-aware"):
        make_scene(acq_date=datetime(2025, 1, 1))
    with pytest.raises(InputError, match="scene_id"):
        make_scene(scene_id="")
    with pytest.raises(InputError, match="negative size"):
        make_scene(size=-1)


def test_an_unbound_scene_says_how_to_get_a_downloader():
    with pytest.raises(InputError, match="not bound to a provider"):
        make_scene().downloader()


def test_a_bound_scene_passes_itself_and_extra_params_to_the_factory():
    seen = []
    scene = make_scene().bind_downloader(lambda s, **kw: seen.append((s.scene_id, kw)) or "dl")
    assert scene.downloader(assets=["visual"]) == "dl"
    assert seen == [("S2B_T24MWV_20250731T130245_L2A", {"assets": ["visual"]})]
    assert scene == make_scene()  # the factory is not part of equality


@pytest.mark.parametrize("junk", [None, "", "N/A", "null", "0000000000", "zz-not-hex"])
def test_junk_provider_checksums_are_treated_as_absent(junk):  # B-33
    assert Checksum.usable("MD5", junk) is None


def test_usable_checksums_are_normalised():
    assert Checksum.usable("SHA-256", " ABCDEF01 ", "odata") == Checksum("sha256", "abcdef01", "odata")


def test_download_result_and_failed_download_follow_the_reference():
    scene = make_scene()
    result = DownloadResult(["/a/b.tif"], scene, archives=["/a/b.zip"])
    assert result.out_files == ("/a/b.tif",) and result.archives == ("/a/b.zip",)
    assert DownloadResult([], scene).archives is None
    try:
        raise RuntimeError("network down")
    except RuntimeError:
        failed = FailedDownload(scene.scene_id, sys.exc_info())
    assert failed.error.args == ("network down",)
    assert "network down" in failed.format()
    assert "network down" in repr(failed)


@pytest.mark.parametrize("name, expected", [("SHA3-256", "sha3_256"), ("sha-256", "sha256"), ("MD5", "md5"), ("BLAKE3", "blake3")])
def test_checksum_algorithm_names_follow_hashlib(name, expected):
    assert Checksum.usable(name, "ab12").algorithm == expected


def test_with_plain_raw_turns_a_read_only_mapping_into_a_dict_and_keeps_everything_else():
    from types import MappingProxyType

    scene = make_scene(raw=MappingProxyType({"id": "x", "properties": {"a": 1}}))
    plain = scene.with_plain_raw()
    assert type(plain.raw) is dict and plain.raw == {"id": "x", "properties": {"a": 1}}
    assert plain == scene and plain.published == scene.published
    already = make_scene(raw={"id": "x"})
    assert already.with_plain_raw() is already
    text = make_scene(raw="<xml/>")  # a provider's XML text stays as it is
    assert text.with_plain_raw() is text
