"""The README's main job, run exactly as written (scripts/main_job.sh), against a loopback STAC API."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.stac_server import FakeStacServer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).with_name("eoharvest")


@pytest.fixture
def stac():
    with FakeStacServer() as server:
        yield server


def run_main_job(stac, tmp_path, *extra):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_STAC_URL": stac.url,
        "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
        "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
        "EOHARVEST_BIN": str(BIN),
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "main_job.sh"), "--json", *extra],
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_the_main_job_catalogs_downloads_verifies_and_then_has_nothing_left_to_do(stac, tmp_path):
    first = run_main_job(stac, tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    # Earth Search flavour: sentinel-2-c1-l2a, cloud <= 30 via the query extension, limit 3.
    assert report["found"] >= 1 and report["failed"] == 0
    assert report["downloaded"] == report["found"]
    posts = [body for method, path, body in stac.requests if method == "POST"]
    assert posts[0]["collections"] == ["sentinel-2-c1-l2a"]
    assert posts[0]["query"] == {"eo:cloud_cover": {"lte": 30.0}}
    # Every downloaded file is byte-identical to what the server published.
    archive = tmp_path / "archive"
    files = sorted(archive.rglob("visual.tif"))
    assert len(files) == report["downloaded"]
    hits_after_first = list(stac.asset_hits)
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert any(hashlib.sha256(stac.expected_asset(h)).hexdigest() == digest for h in hits_after_first)
    assert not list(archive.rglob("*.part*"))
    # The catalog has the rows and the files as available with their SHA-256.
    from eoharvest.adapters.catalog import open_catalog

    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert catalog.count() == report["found"]
        for path in files:
            product = path.parent.name
            assert catalog.available_files(product) == [str(path)]

    second = run_main_job(stac, tmp_path)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["downloaded"] == 0 and again["already_had"] == report["found"]
    assert again["new_in_catalog"] == 0
    assert stac.asset_hits == hits_after_first  # nothing fetched the second time


def test_catalog_only_harvest_then_download_by_query_and_by_id(stac, tmp_path):
    env_args = ("--no-download",)
    first = run_main_job(stac, tmp_path, *env_args)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["downloaded"] == 0 and stac.asset_hits == []
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_STAC_URL": stac.url, "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
        "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
    }
    by_query = subprocess.run([str(BIN), "download", "--where", "cloud < 25", "--assets", "visual", "--json"],
                              env=env, capture_output=True, text=True, timeout=120)
    assert by_query.returncode == 0, by_query.stderr
    report = json.loads(by_query.stdout)
    assert report["found"] == 1 and report["downloaded"] == 1  # only T24MXV has cloud < 25
    key = next((tmp_path / "archive").iterdir()).name  # a product key, as `catalog query` shows
    again = subprocess.run([str(BIN), "download", "--provider", "earth-search", "--id", key, "--assets", "visual", "--json"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_had"] == 1
    missing = subprocess.run([str(BIN), "download", "--provider", "earth-search", "--id", "nope", "--json"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "not in the catalog" in missing.stderr


def test_verify_finds_a_changed_and_a_missing_file_and_repair_makes_them_fetched_again(stac, tmp_path):
    assert run_main_job(stac, tmp_path).returncode == 0
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_STAC_URL": stac.url, "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
        "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
    }

    def verify(*args):
        return subprocess.run([str(BIN), "verify", "--json", *args], env=env, capture_output=True, text=True, timeout=60)

    clean = verify()
    assert clean.returncode == 0 and json.loads(clean.stdout)["ok"] == 3
    first, second, _ = sorted((tmp_path / "archive").rglob("visual.tif"))
    with open(first, "r+b") as f:  # bit rot
        f.seek(100)
        f.write(b"\x00")
    second.unlink()
    broken = verify()
    assert broken.returncode == 5
    report = json.loads(broken.stdout)
    assert report["mismatched"] == [str(first)] and report["missing"] == [str(second)]
    fixed = verify("--repair")
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["repaired"] == 2
    assert not first.exists()
    again = run_main_job(stac, tmp_path)
    assert json.loads(again.stdout)["downloaded"] == 2
    assert verify().returncode == 0


def test_a_harvest_with_a_failed_download_reports_it_and_exits_with_its_code(stac, tmp_path):
    stac.missing_assets.add("T24MXV")
    result = run_main_job(stac, tmp_path)
    assert result.returncode == 4  # ProviderResponseError: HTTP 404
    report = json.loads(result.stdout)
    assert report["downloaded"] == 2 and report["failed"] == 1
    assert "HTTP 404" in report["failures"][0]["error"]
    assert "Traceback" not in result.stderr
