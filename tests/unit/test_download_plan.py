from eoharvest.application.download_plan import plan_scene
from eoharvest.domain.catalog_query import AvailableFile
from eoharvest.domain.models import DownloadDescriptor
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
