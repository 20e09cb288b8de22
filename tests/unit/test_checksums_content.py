import hashlib

import pytest

from eoharvest.domain.checksums import from_base64, from_multihash, normalise_algorithm
from eoharvest.domain.content import wrong_content_reason


def test_a_sha256_multihash_decodes_to_its_digest():
    digest = hashlib.sha256(b"abc").hexdigest()
    checksum = from_multihash("1220" + digest)
    assert checksum.algorithm == "sha256" and checksum.value == digest


def test_an_md5_multihash_decodes_with_a_two_byte_varint_code():
    digest = hashlib.md5(b"abc").hexdigest()
    checksum = from_multihash("d50110" + digest)
    assert checksum.algorithm == "md5" and checksum.value == digest


@pytest.mark.parametrize("bad", ["", "zz", "1220abcd", "99" + "00" * 33, "12"])
def test_malformed_or_unknown_multihashes_are_ignored(bad):
    assert from_multihash(bad) is None


def test_base64_content_md5_decodes_to_hex():
    import base64

    raw = hashlib.md5(b"blob").digest()
    checksum = from_base64("MD5", base64.b64encode(raw).decode(), "azure:content-md5")
    assert checksum.value == raw.hex() and checksum.source == "azure:content-md5"


def test_algorithm_names_are_normalised():
    assert normalise_algorithm("SHA-256") == "sha256"
    assert normalise_algorithm("SHA3-256") == "sha3_256"


def test_an_html_login_page_is_wrong_content():  # T-12
    reason = wrong_content_reason(b"<!DOCTYPE html><html>Sign in", "text/html; charset=utf-8", None)
    assert "HTML" in reason or "html" in reason


def test_html_served_as_octet_stream_is_still_caught():
    assert wrong_content_reason(b"  <html><body>login", "application/octet-stream", None)


def test_a_json_not_ready_message_is_wrong_content():
    reason = wrong_content_reason(b'{"status": "not ready yet"}', "application/json", "application/zip")
    assert "not ready" in reason


def test_binary_content_and_expected_json_pass():
    assert wrong_content_reason(b"PK\x03\x04", "application/zip", None) is None
    assert wrong_content_reason(b'{"type": "Feature"}', "application/json", "application/geo+json") is None
