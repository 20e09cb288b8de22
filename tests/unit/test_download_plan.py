from eoharvest.application.download_plan import on_disk_as_recorded, plan_scene
from eoharvest.domain.catalog_query import AvailableFile
from eoharvest.domain.models import Checksum, DownloadDescriptor
from fakes import make_scene

VISUAL = DownloadDescriptor("https://x/visual.tif", "visual.tif")
B04 = DownloadDescriptor("https://x/B04.tif", "B04.tif")


def plan(available, *, overwrite=False, exists=lambda p: True, provider="earth-search"):
    scene = make_scene("S2B_X", provider=provider, product_key="S2B_MSIL2A_X")
    return plan_scene(scene, [VISUAL, B04], available, exists=exists, overwrite=overwrite)


def test_with_nothing_in_the_archive_everything_is_fetched():
    p = plan([])
    assert p.fetch == (VISUAL, B04) and p.reuse == ()


def test_a_whole_product_archive_from_another_provider_means_nothing_is_fetched():
    p = plan([AvailableFile("/a/S2B_MSIL2A_X/S2B_MSIL2A_X.SAFE.zip", "copernicus", "S2B_MSIL2A_X.SAFE.zip")])
    assert p.nothing_to_fetch and p.reuse == ("/a/S2B_MSIL2A_X/S2B_MSIL2A_X.SAFE.zip",)


def test_another_providers_copy_of_a_different_asset_does_not_stand_in_for_the_one_asked():
    p = plan([AvailableFile("/a/S2B_MSIL2A_X/TCI.tif", "planetary-computer", "TCI.tif")])
    assert p.fetch == (VISUAL, B04) and p.reuse == ()


def test_the_same_asset_name_from_another_provider_is_reused():
    p = plan([AvailableFile("/a/S2B_MSIL2A_X/visual.tif", "planetary-computer", "visual.tif")])
    assert p.fetch == (B04,) and p.reuse == ("/a/S2B_MSIL2A_X/visual.tif",)


def test_from_the_same_provider_only_missing_files_are_fetched():
    p = plan([AvailableFile("/a/S2B_MSIL2A_X/visual.tif", "earth-search", "visual.tif")])
    assert p.fetch == (B04,) and p.reuse == ("/a/S2B_MSIL2A_X/visual.tif",)


def test_a_record_whose_file_is_gone_does_not_count():
    p = plan([AvailableFile("/gone/visual.tif", "earth-search", "visual.tif")], exists=lambda p: False)
    assert p.fetch == (VISUAL, B04)


def test_overwrite_fetches_everything_again():
    p = plan([AvailableFile("/a/visual.tif", "copernicus", "visual.tif")], overwrite=True)
    assert p.fetch == (VISUAL, B04) and p.reuse == ()


# -- the same asset under another file name (Earth Search `red.TIF`, USGS `..._SR_B4.TIF`) --------
RED_USGS = DownloadDescriptor("https://dds/x", "LC08_X_SR_B4.TIF", size=10, asset="red")
NIR_USGS = DownloadDescriptor("https://dds/y", "LC08_X_SR_B5.TIF", size=12, asset="nir08")


def landsat(available, descriptors=(RED_USGS, NIR_USGS), *, intact=lambda f: True):
    scene = make_scene("LC08_X", provider="usgs", product_key="LC08_K")
    return plan_scene(scene, descriptors, available, exists=lambda p: True, intact=intact)


def test_a_file_recorded_as_the_same_asset_by_another_provider_is_reused_under_its_own_name():
    red = AvailableFile("/a/LC08_K/red.TIF", "earth-search", "red.TIF", "red", 10, "ab" * 32)
    p = landsat([red])
    assert p.reuse == ("/a/LC08_K/red.TIF",) and p.fetch == (NIR_USGS,)


def test_asset_names_match_whatever_their_case():
    p = landsat([AvailableFile("/a/LC08_K/RED.TIF", "stac", "RED.TIF", "RED", 10)])
    assert p.reuse == ("/a/LC08_K/RED.TIF",)


def test_a_recorded_size_or_checksum_that_contradicts_the_provider_means_another_file():
    other_size = AvailableFile("/a/LC08_K/red.TIF", "earth-search", "red.TIF", "red", 11)
    assert landsat([other_size]).fetch == (RED_USGS, NIR_USGS)
    announced = DownloadDescriptor("https://es/red.TIF", "red2.TIF", checksums=(Checksum("sha256", "cd" * 32),), asset="red")
    other_hash = AvailableFile("/a/LC08_K/red.TIF", "usgs", "LC08_X_SR_B4.TIF", "red", 10, "ab" * 32)
    assert landsat([other_hash], [announced]).fetch == (announced,)
    same_hash = AvailableFile("/a/LC08_K/red.TIF", "usgs", "LC08_X_SR_B4.TIF", "red", 10, "cd" * 32)
    assert landsat([same_hash], [announced]).reuse == ("/a/LC08_K/red.TIF",)
    md5 = AvailableFile("/a/LC08_K/red.TIF", "planet", "p.tif", "red", None, "cd" * 32, Checksum("md5", "ee" * 16))
    assert landsat([md5], [DownloadDescriptor("u", "q.tif", checksums=(Checksum("md5", "ff" * 16),), asset="red")]).reuse == ()


def test_a_file_no_longer_as_it_was_verified_does_not_stand_in_for_its_asset():
    red = AvailableFile("/a/LC08_K/red.TIF", "earth-search", "red.TIF", "red", 10)
    assert landsat([red], intact=lambda f: False).fetch == (RED_USGS, NIR_USGS)


def test_on_disk_as_recorded_compares_the_size_of_regular_files_only(tmp_path):
    path = tmp_path / "red.TIF"
    path.write_bytes(b"0123456789")
    assert on_disk_as_recorded(AvailableFile(str(path), "stac", "red.TIF", "red", 10))
    assert on_disk_as_recorded(AvailableFile(str(path), "stac", "red.TIF", "red", None))
    assert not on_disk_as_recorded(AvailableFile(str(path), "stac", "red.TIF", "red", 11))
    assert not on_disk_as_recorded(AvailableFile(str(tmp_path / "gone"), "stac", "gone", "red", 10))
    assert on_disk_as_recorded(AvailableFile(str(tmp_path), "usgs", "P.tar", "product", 999))  # unpacked folder
