"""NASA CMR end to end on loopback: `CMR(user, password).scenes(...)` and `download_all(...)`,
`eoharvest harvest --provider cmr --assets B04`, `watch add/run --provider cmr`, the collection
listing, and `AggregateSensorAPI` over CMR and Copernicus yielding one scene per product."""

import io
import json
import zipfile

import pytest

from eoharvest import CMR, AggregateSensorAPI, download_all
from eoharvest.adapters.catalog import open_catalog
from eoharvest.entrypoints.cli import main
from fakes.cmr_server import LP_HOST, CmrFake, asf_s1_granule, hls_granule, loopback_names, settings_for
from fakes.copernicus_server import CdseFake

HLS = "HLS.L30.T13SDV.2021035T173836.v2.0"
AOI = "-106.2,35.1,-104.8,36.2"
S1 = "S1A_IW_SLC__1SDV_20220703T154846_20220703T154912_043938_053EBC_D45D"


@pytest.fixture
def cmr(monkeypatch):
    loopback_names(monkeypatch)
    with CmrFake() as fake:
        fake.add(hls_granule(), hls_granule("HLS.S30.T13SDV.2021036T174059.v2.0", concept_id="G2147556300-LPCLOUD",
                                            collection="C2021957295-LPCLOUD", start="2021-02-05T17:40:59.024Z", cloud=71))
        yield fake


@pytest.fixture
def env(cmr, tmp_path, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith(("EOHARVEST_", "EARTHDATA_"))]:
        monkeypatch.delenv(key)
    values = {"EOHARVEST_CMR_URL": cmr.cmr_url, "EOHARVEST_EARTHDATA_LOGIN_URL": cmr.login_url,
              "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"), "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
              "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}  # fmt: skip
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def fetched(fake):
    return sorted(s.path.rsplit(".", 2)[-2] for s in fake.requests_to(LP_HOST, "/lp-prod-protected/"))


def test_cmr_scenes_and_download_all_end_to_end_then_nothing_twice(cmr, tmp_path):
    settings = settings_for(cmr, tmp_path)
    with CMR(cmr.username, cmr.password, settings=settings) as api:
        assert api.supported_platformnames() == ("HLS", "MODIS", "Terra", "Aqua", "VIIRS", "Sentinel-1")
        scenes = api.scenes(platformname="HLS", aoi=AOI, start_date="2021-02-01", end_date="2021-02-28", cloud_max=30)
        assert scenes.total == 1
        found = list(scenes)
        assert [(s.scene_id, s.cloudcover_percentage, s.platformname) for s in found] == [(HLS, 14.0, "HLS")]
        results, failures = download_all(found, str(tmp_path / "archive"), assets=["B04", "Fmask"])
        assert failures == [] and len(results[0].out_files) == 2
        again, _ = download_all(found, str(tmp_path / "archive"), assets=["B04", "Fmask"])
    assert again[0].skipped
    product_dir = tmp_path / "archive" / HLS
    assert sorted(p.name for p in product_dir.iterdir()) == [f"{HLS}.B04.tif", f"{HLS}.Fmask.tif"]
    assert fetched(cmr) == ["B04", "Fmask"]  # each file once, the second run fetched nothing
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert sorted(catalog.available_files(HLS)) == sorted(str(p) for p in product_dir.iterdir())
        stored = catalog.get_scene("cmr", HLS)
    assert stored.product_key == HLS and stored.raw["end_datetime"] == "2021-02-04T17:39:00.830000Z"
    assert stored.raw["meta"]["concept-id"] == "G2147556158-LPCLOUD"
    assert cmr.password not in (tmp_path / "catalog.db").read_bytes().decode("latin-1")


def test_the_cli_harvest_downloads_only_band_b04_with_earthdata_credentials_from_the_environment(cmr, env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EARTHDATA_USERNAME", cmr.username)
    monkeypatch.setenv("EARTHDATA_PASSWORD", cmr.password)
    code = main(["harvest", "--provider", "cmr", "--platform", "HLS", "--aoi", AOI, "--start", "2021-02-01",
                 "--end", "2021-02-28", "--assets", "B04", "--outdir", str(tmp_path / "a"), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(out.out)
    assert report["found"] == 2 and report["downloaded"] == 2 and report["failed"] == 0
    assert fetched(cmr) == ["B04", "B04"]
    assert cmr.password not in out.err + out.out
    assert (tmp_path / "a" / HLS / f"{HLS}.B04.tif").stat().st_size == 3003


def test_the_cli_harvest_of_an_asset_no_granule_has_exits_2_naming_their_assets(cmr, env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EARTHDATA_TOKEN", cmr._new_token())
    code = main(["harvest", "--provider", "cmr", "--platform", "HLS", "--aoi", AOI, "--assets", "B08",
                 "--outdir", str(tmp_path / "a")])
    err = capsys.readouterr().err
    # Checked against the first page before any download (it used to fail per granule, exit 4).
    assert code == 2 and "no asset named 'B08'" in err and "B04" in err and "Traceback" not in err
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").rglob("*.tif"))


def test_watch_add_and_run_with_provider_cmr(cmr, env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EOHARVEST_CMR_USERNAME", cmr.username)
    monkeypatch.setenv("EOHARVEST_CMR_PASSWORD", cmr.password)
    assert main(["watch", "add", "hls", "--provider", "cmr", "--platform", "HLS", "--aoi", AOI, "--cloud-max", "30",
                 "--assets", "B04,Fmask", "--since", "2021-02-01", "--every", "6h"]) == 0
    assert main(["watch", "show", "hls", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["definition"]["provider"] == "cmr" and shown["definition"]["assets"] == ["B04", "Fmask"]
    assert main(["watch", "run", "hls", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["found"] == 1 and report["downloaded"] == 1
    assert fetched(cmr) == ["B04", "Fmask"]
    state = json.loads(main(["watch", "show", "hls", "--json"]) or capsys.readouterr().out)
    assert state["watermark_kind"] == "published"  # CMR searches by revision date (updated_since)


def test_watch_add_refuses_a_platform_cmr_does_not_have(cmr, env, capsys):
    code = main(["watch", "add", "s2", "--provider", "cmr", "--platform", "Sentinel-2", "--aoi", AOI])
    err = capsys.readouterr().err
    assert code == 2 and "unknown platform 'Sentinel-2'" in err and "HLS, MODIS" in err


def test_the_collection_listing_shows_short_name_version_provider_and_concept_id(cmr, env, capsys):
    assert main(["providers", "cmr", "collections", "--keyword", "HLS"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["SHORT", "NAME", "VERSION", "PROVIDER", "ID", "CONCEPT"]
    assert [line.split()[:4] for line in lines[1:]] == [["HLSL30", "2.0", "LPCLOUD", "C2021957657-LPCLOUD"],
                                                        ["HLSS30", "2.0", "LPCLOUD", "C2021957295-LPCLOUD"]]
    assert main(["providers", "cmr", "collections", "--keyword", "HLS", "--provider-id", "ASF"]) == 2
    assert "no CMR collection matches 'HLS'" in capsys.readouterr().err
    assert main(["providers", "cmr", "collections", "--keyword", "hls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["hits"] == 2 and listed["collections"][0]["concept_id"] == "C2021957657-LPCLOUD"


def safe_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{S1}.SAFE/manifest.safe", "<manifest/>")
    return buf.getvalue()


def test_the_aggregate_over_cmr_and_copernicus_yields_one_scene_per_product(cmr, env, monkeypatch):
    data = safe_zip()
    cmr.add(asf_s1_granule(S1, content=data))
    cmr.add(asf_s1_granule("S1A_IW_SLC__1SDV_20220715T154847_20220715T154913_044113_0543F1_AB12", concept_id="G2300000002-ASF"))
    with CdseFake() as cdse:
        cdse.add_product("p-1", f"{S1}.SAFE", len(data), start="2022-07-03T15:48:46.000Z")
        for key, value in {"EOHARVEST_CDSE_TOKEN_URL": cdse.token_url, "EOHARVEST_CDSE_ODATA_URL": cdse.odata_url,
                           "EOHARVEST_CDSE_DOWNLOAD_URL": cdse.download_url}.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        aggregate = AggregateSensorAPI(cmr_username=cmr.username, cmr_password=cmr.password,
                                       copernicus_username=cdse.username, copernicus_password=cdse.password)
        try:
            search = aggregate.scenes(platformname="Sentinel-1", start_date="2022-07-01", end_date="2022-07-31")
            scenes = list(search)
        finally:
            for instance in aggregate.instances:
                instance.close()
    assert sorted((s.provider, s.product_key) for s in scenes) == [
        ("cmr", "S1A_IW_SLC__1SDV_20220715T154847_20220715T154913_044113_0543F1_AB12"), ("copernicus", S1)]
    assert search.duplicates_dropped == 1
    (asf,) = [s for s in scenes if s.provider == "cmr"]
    assert asf.scene_id.endswith("-SLC") and asf.scene_key == "S1A_IW_SLC__1SDV_20220715T154847_20220715T154913_044113_0543F1"


def test_catalog_export_as_stac_uses_the_cmr_mapping_with_band_assets_sizes_and_checksums(cmr, env, tmp_path, capsys):
    assert main(["harvest", "--provider", "cmr", "--platform", "HLS", "--aoi", AOI, "--no-download", "--json"]) == 0
    capsys.readouterr()
    out = tmp_path / "items.json"
    assert main(["catalog", "export", "--format", "stac", "--provider", "cmr", "-o", str(out)]) == 0
    items = {i["id"]: i for i in json.loads(out.read_text())["features"]}
    item = items[HLS]
    assert item["properties"]["cmr:collection"] == "HLSL30.v2.0" and item["properties"]["eo:cloud_cover"] == 14
    assert item["properties"]["start_datetime"] == "2021-02-04T17:38:36.830000Z"
    assert item["properties"]["end_datetime"] == "2021-02-04T17:39:00.830000Z"
    assert item["properties"]["platform"]  # eoharvest:* properties are in the GeoJSON export only
    assert len(item["assets"]) == 15 and item["assets"]["B04"]["file:size"] == 3003
    # The fake's files cycle through UMM-G's SHA-256, SHA-512 and MD5: multihash codes 12, 13, d501.
    checksums = [item["assets"][band]["file:checksum"] for band in ("B01", "B02", "B03", "B04")]
    assert [c[:4] for c in checksums] == ["1220", "1340", "d501", "1220"] and checksums[2][4:6] == "10"
    assert [len(c) for c in checksums] == [68, 132, 38, 68]


def three_more_granules(cmr):
    cmr.add(*(hls_granule(f"HLS.L30.T13SDV.20210{d}T173836.v2.0", concept_id=f"G21475562{d}-LPCLOUD",
                          start=f"2021-02-{d}T17:38:36.830Z") for d in ("10", "11", "12")))  # fmt: skip


def test_parallel_downloads_with_a_wrong_password_try_it_exactly_once(cmr, tmp_path):
    three_more_granules(cmr)
    with CMR(cmr.username, "CANARY-WRONG-PW-99", settings=settings_for(cmr, tmp_path)) as api:
        found = list(api.scenes(platformname="HLS", aoi=AOI, cloud_max=30))
        results, failures = download_all(found, str(tmp_path / "archive"), assets=["B04", "B05"], skip_error=True,
                                         max_workers=4)  # fmt: skip
    assert len(found) == 4 and results == [] and len(failures) == 4
    assert cmr.password_attempts() == 1
    assert all(f.error.exit_code == 3 and "CANARY-WRONG-PW-99" not in str(f.error) for f in failures)


def test_parallel_downloads_renew_a_revoked_token_once_and_a_token_alone_works_as_an_argument(cmr, tmp_path):
    three_more_granules(cmr)
    with CMR(cmr.username, cmr.password, settings=settings_for(cmr, tmp_path)) as api:
        found = list(api.scenes(platformname="HLS", aoi=AOI, cloud_max=30))
        download_all(found[:1], str(tmp_path / "archive"), assets=["B01"])
        cmr.tokens.clear()  # revoked: every parallel download gets 401 with the old token
        results, failures = download_all(found, str(tmp_path / "archive"), assets=["B02", "B03"], max_workers=4)
    assert failures == [] and len(results) == 4
    assert len(cmr.requests_to("urs.earthdata.nasa.gov", "/api/users/find_or_create_token")) == 2
    with CMR(token=next(iter(cmr.tokens)), settings=settings_for(cmr, tmp_path / "t")) as api:
        (scene,) = [s for s in api.scenes(platformname="HLS", aoi=AOI, cloud_max=30) if s.scene_id == HLS]
        results, failures = download_all([scene], str(tmp_path / "t" / "archive"), assets=["SZA"])
    assert failures == [] and len(cmr.requests_to("urs.earthdata.nasa.gov", "/api/users/find_or_create_token")) == 2
