"""A Scene built by the user from its download links downloads through the generic transfer
engine (resume, checksum, atomic rename, retries), without credentials, recorded in the catalog
under provider ``links``; loopback and private hosts only when the settings allow them."""

from datetime import datetime, timezone

import pytest

from eoharvest import DownloadError, Footprint, Scene, download_all
from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.errors import InputError, UnsafeURL
from eoharvest.domain.models import Checksum
from eoharvest.entrypoints.cli import main
from eoharvest.entrypoints.config import load_settings
from faultserver.fixtures import fault_server, fault_server_factory  # noqa: F401

WHEN = datetime(2024, 6, 4, 16, 5, tzinfo=timezone.utc)
FOOTPRINT = Footprint.from_bbox(-79.4, 43.8, -79.3, 43.9)


def settings(tmp_path, *, allow_private=True, retries=3):
    return load_settings({"catalog_path": tmp_path / "catalog.db", "allow_private_targets": allow_private,
                          "max_retries": retries, "retry_max_seconds": 30}, environ={})


def user_scene(url, name="x.tif", **kw):
    # The reference constructor: Scene(platformname, scene_id, footprint, acq_date, cloud, links, filenames, raw)
    return Scene("Sentinel-2", "X", FOOTPRINT, WHEN, 10.0, [url], [name], {}, **kw)


def test_a_scene_built_from_its_link_is_downloaded_verified_and_catalogued_under_links(fault_server, tmp_path):
    fault_server.add_file("x.tif", 300_000)
    fault_server.script("x.tif", ["reset"])  # the first answer breaks off: the engine resumes
    scene = user_scene(fault_server.url("x.tif"),
                       checksums=[Checksum("sha256", fault_server.expected_sha256("x.tif"))], size=300_000)
    results, failures = download_all([scene], str(tmp_path / "out"), settings=settings(tmp_path))
    assert failures == []
    path = tmp_path / "out" / "X" / "x.tif"
    assert results[0].out_files == (str(path),) and results[0].scene.provider == "links"
    assert path.read_bytes() == fault_server.content("x.tif")
    assert not list((tmp_path / "out").rglob("*.part*"))
    assert any(r.header("Range") for r in fault_server.requests_for("x.tif"))  # resumed, not restarted
    assert all(r.header("Authorization") is None for r in fault_server.requests_for("x.tif"))
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert catalog.get_scene("links", "X").download_links == (fault_server.url("x.tif"),)
        assert catalog.available_files("X") == [str(path)]


def test_a_wrong_checksum_leaves_no_file_and_fails_the_scene(fault_server, tmp_path):
    fault_server.add_file("x.tif", 50_000)
    scene = user_scene(fault_server.url("x.tif"), checksums=[Checksum("sha256", "0" * 63 + "1")])
    results, failures = download_all([scene], str(tmp_path / "out"), skip_error=True,
                                     settings=settings(tmp_path, retries=0))
    assert results == [] and "does not match the provider's" in str(failures[0].error)
    assert failures[0].error.exit_code == 5  # IntegrityError, not RetryExhausted
    assert not (tmp_path / "out" / "X" / "x.tif").exists()


def test_loopback_links_are_refused_unless_the_settings_allow_private_targets(fault_server, tmp_path):
    fault_server.add_file("x.tif", 10_000)
    scene = user_scene(fault_server.url("x.tif"))
    _, failures = download_all([scene], str(tmp_path / "out"), skip_error=True,
                               settings=settings(tmp_path, allow_private=False), catalog=False)
    assert isinstance(failures[0].error, UnsafeURL) and "allow_private_targets" in str(failures[0].error)
    assert fault_server.requests_for("x.tif") == []


def test_a_scene_with_several_links_gets_one_file_per_link_named_from_the_url(fault_server, tmp_path):
    for name in ("B04.tif", "B08.tif"):
        fault_server.add_file(name, 20_000)
    scene = Scene("Sentinel-2", "Y", None, WHEN, None, [fault_server.url("B04.tif"), fault_server.url("B08.tif")])
    results, failures = download_all([scene], str(tmp_path / "out"), settings=settings(tmp_path), catalog=False)
    assert failures == []
    assert sorted(p.rsplit("/", 1)[1] for p in results[0].out_files) == ["B04.tif", "B08.tif"]


def test_links_and_names_that_do_not_match_are_an_input_error(fault_server, tmp_path):
    scene = Scene("Sentinel-2", "Z", None, WHEN, None, [fault_server.url("a"), fault_server.url("b")], ["only-one.tif"])
    with pytest.raises(DownloadError) as caught:
        download_all([scene], str(tmp_path / "out"), settings=settings(tmp_path), catalog=False)
    assert isinstance(caught.value.__cause__, InputError) and "2 download link(s) but 1 file name(s)" in str(caught.value.__cause__)


def test_a_links_scene_in_the_catalog_is_downloaded_again_by_the_cli(fault_server, tmp_path, monkeypatch, capsys):
    fault_server.add_file("x.tif", 40_000)
    download_all([user_scene(fault_server.url("x.tif"))], str(tmp_path / "out"), settings=settings(tmp_path))
    (tmp_path / "out" / "X" / "x.tif").unlink()
    monkeypatch.setenv("EOHARVEST_ALLOW_PRIVATE_TARGETS", "1")
    monkeypatch.setenv("EOHARVEST_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    code = main(["download", "--provider", "links", "--id", "X", "--overwrite", "--json",
                 "--catalog", str(tmp_path / "catalog.db"), "--outdir", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "X" / "x.tif").read_bytes() == fault_server.content("x.tif")
    assert main(["harvest", "--provider", "links", "--aoi", "0,0,1,1"]) == 2  # links has no search
    assert "'links' is not one of" in capsys.readouterr().err
