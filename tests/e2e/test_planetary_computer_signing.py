"""Planetary Computer end to end on loopback: recorded search answers, the SAS token endpoint, and a
blob host (its real name, resolved to 127.0.0.1 in-process) that refuses unsigned or stale links."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from eoharvest import StacAPI, download_all
from eoharvest.entrypoints.config import load_settings
from fakes.planetary_server import pc  # noqa: F401 - the fixture


def test_assets_are_signed_a_refused_token_is_replaced_and_no_token_reaches_the_disk(pc, tmp_path):
    settings = load_settings(
        {"planetary_computer_sas_url": f"{pc.base}/api/sas/v1", "catalog_path": tmp_path / "c.db"}, environ={}
    )
    with StacAPI(f"{pc.base}/api/stac/v1", name="planetary-computer", settings=settings) as api:
        scenes = list(api.scenes(platformname="Sentinel-2", start_date="2019-01-01", end_date="2019-01-02"))
        assert scenes[0].product_key == "S2A_MSIL2A_20190101T000001_N0212_R116_T60VUK_20201007T214652"
        results, failures = download_all(scenes, str(tmp_path / "archive"), assets=["B04"])
    assert failures == []
    (path,) = results[0].out_files
    served = urlsplit(pc.blob_requests[-1]).path
    with open(path, "rb") as f:
        assert f.read() == pc.blob_bytes(served)
    assert pc.tokens_issued == 2  # the first token was refused (403), the link was signed again once
    queries = [parse_qs(urlsplit(p).query).get("sig") for p in pc.blob_requests]
    assert queries == [["CANARY-SIG-1"], ["CANARY-SIG-2"]]
    for leftover in tmp_path.rglob("*"):
        if leftover.is_file() and leftover.suffix in (".json", ".db"):
            assert b"CANARY-SIG" not in leftover.read_bytes()
