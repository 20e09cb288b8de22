"""T-13 for USGS bundles: a Landsat Collection 2 ``.tar`` is complete only with every file its
``_MTL.txt``/``_MTL.json`` lists and its end-of-archive marker; anything else is refused with the
member named, and unsafe names stay refused."""

import io
import json
import tarfile

import pytest
from fakes.usgs_server import bundle_tar

from eoharvest.adapters.archive_mtl import mtl_file_names
from eoharvest.adapters.archives import verify_archive
from eoharvest.domain.errors import IntegrityError, UnsafeArchive

PRODUCT = "LC08_L2SP_033032_20231008_20231017_02_T1"


def rebuilt(data, *, drop=(), replace=None):
    source = tarfile.open(fileobj=io.BytesIO(data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for member in source.getmembers():
            if any(member.name.endswith(d) for d in drop):
                continue
            payload = source.extractfile(member).read()
            if replace and member.name.endswith(replace[0]):
                payload = replace[1]
                member.size = len(payload)
            tf.addfile(member, io.BytesIO(payload))
    return out.getvalue()


def write(tmp_path, data):
    path = tmp_path / f"{PRODUCT}.tar"
    path.write_bytes(data)
    return path


def test_a_complete_bundle_verifies(tmp_path):
    report = verify_archive(write(tmp_path, bundle_tar(PRODUCT)))
    assert len(report.members) == 14


@pytest.mark.parametrize("mtl", ["_MTL.txt", "_MTL.json"])
def test_a_bundle_without_a_file_its_mtl_lists_is_refused_naming_it(tmp_path, mtl):
    other = "_MTL.json" if mtl == "_MTL.txt" else "_MTL.txt"
    data = rebuilt(bundle_tar(PRODUCT), drop=("_SR_B4.TIF", other))
    with pytest.raises(IntegrityError, match=f"{PRODUCT}_SR_B4.TIF' listed in '{PRODUCT}{mtl}' is missing"):
        verify_archive(write(tmp_path, data))


def test_a_bundle_cut_before_its_end_marker_is_refused(tmp_path):
    data = bundle_tar(PRODUCT)
    last = tarfile.open(fileobj=io.BytesIO(data)).getmembers()[-1]
    end = last.offset_data + -(-last.size // 512) * 512  # right after the last member: no end marker
    with pytest.raises(IntegrityError, match="no end-of-archive marker"):
        verify_archive(write(tmp_path, data[:end]))


def test_an_mtl_that_lists_a_path_outside_the_bundle_is_unsafe(tmp_path):
    hostile = json.dumps({"LANDSAT_METADATA_FILE": {"PRODUCT_CONTENTS": {"FILE_NAME_BAND_1": "../../etc/passwd"}}}).encode()
    data = rebuilt(bundle_tar(PRODUCT), drop=("_MTL.txt",), replace=("_MTL.json", hostile))
    with pytest.raises(UnsafeArchive, match="lists an unsafe path"):
        verify_archive(write(tmp_path, data))


def test_mtl_file_lists_from_odl_and_json():
    odl = b'GROUP = PRODUCT_CONTENTS\n  FILE_NAME_BAND_1 = "a_SR_B1.TIF"\n  FILE_NAME_METADATA_ODL = "a_MTL.txt"\nEND_GROUP = PRODUCT_CONTENTS\n'
    assert mtl_file_names("x_MTL.txt", odl) == ["a_SR_B1.TIF", "a_MTL.txt"]
    assert mtl_file_names("x_MTL.json", b"not json") == [] and mtl_file_names("x_MTL.txt", b"") == []
