"""Server- and provider-supplied names (reliability-test-plan 4.2, B-40, B-45..B-50)."""

import logging
import re

import pytest

from eoharvest.adapters.archive_safety import (
    filename_from_content_disposition,
    safe_filename,
    sanitize_title,
    validate_member_name,
)
from eoharvest.domain.errors import UnsafeArchive, UnsafeFilename

SCENE = "S2A_MSIL2A_20240101T101421_N0510_R022_T32TQM_20240101T121314.zip"


@pytest.mark.parametrize(
    "name, words",
    [
        ("", "empty"),
        (".", "directory"),
        ("..", "directory"),
        ("a/b", "separator"),
        ("a\\b", "separator"),
        ("/etc/passwd", "separator"),
        ("C:x", "drive letter"),
        ("scene:1", "Windows forbids"),
        ("a?b", "Windows forbids"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("a\x1b[31mred", "control character"),
        ("CON", "reserved"),
        ("con", "reserved"),
        ("aux.zip", "reserved"),
        ("LPT9.tar.gz", "reserved"),
        ("COM1", "reserved"),
        ("name.", "ends with a dot or a space"),
        ("name ", "ends with a dot or a space"),
        ("a" * 256, "255 bytes"),
        ("é" * 128, "255 bytes"),  # 256 bytes in UTF-8 though only 128 characters
    ],
)
def test_safe_filename_rejects_names_that_are_not_one_safe_component(name, words):
    with pytest.raises(UnsafeFilename) as info:
        safe_filename(name)
    assert info.value.exit_code == 8
    assert words in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    "name", [SCENE, "LC08_L2SP_190025_20240101_02_T1.tar", "a" * 255, "console.txt", ".hidden", "é" * 127]
)
def test_safe_filename_returns_ordinary_scene_names_unchanged(name):
    assert safe_filename(name) == name


def test_the_rejection_message_shows_control_characters_escaped_and_names_what_it_was():
    with pytest.raises(UnsafeFilename) as info:
        safe_filename("evil\n2024 INFO forged\x1b[0m", what="title")
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message
    assert "evil\\n2024 INFO forged\\x1b[0m" in message
    assert message.startswith("unsafe title")


def test_a_very_long_value_is_shortened_in_the_message():
    with pytest.raises(UnsafeFilename) as info:
        safe_filename("x" * 5000)
    assert len(info.value.message) < 300


def test_sanitize_title_replaces_separators_with_underscores():
    assert sanitize_title("Sentinel-2/L2A: tile 32TQM") == "Sentinel-2_L2A_ tile 32TQM"
    assert sanitize_title("../../etc/passwd") == ".._.._etc_passwd"
    assert sanitize_title("C:\\Windows\\x") == "C__Windows_x"


@pytest.mark.parametrize("title", ["..", "", "   ", "line\nbreak", "CON", "a" * 300])
def test_sanitize_title_still_rejects_what_no_replacement_can_fix(title):
    with pytest.raises(UnsafeFilename):
        sanitize_title(title)


def test_sanitize_title_enforces_the_provider_pattern_when_given():
    pattern = re.compile(r"S2[ABC]_MSI[A-Z0-9]+_[0-9T]+_N\d{4}_R\d{3}_T\w{5}_[0-9T]+")
    assert sanitize_title(SCENE.removesuffix(".zip"), pattern=pattern) == SCENE.removesuffix(".zip")
    with pytest.raises(UnsafeFilename, match="scene id"):
        sanitize_title("S2A/../../x", pattern=pattern)


@pytest.mark.parametrize(
    "header",
    [
        'attachment; filename="../../.bashrc"',  # B-45
        'attachment; filename="/etc/cron.d/x"',  # B-46
        'attachment; filename="C:\\Windows\\x"',  # B-46
        "attachment; filename=C:\\Windows\\x",
        "attachment; filename*=UTF-8''%2e%2e%2fx",  # B-47
        "attachment; filename*=utf-8''..%5C..%5Cx",
        'attachment; filename="ok.zip"; filename*=UTF-8\'\'%2Fetc%2Fpasswd',  # filename* wins
        'attachment; filename="CON"',  # B-48
        'attachment; filename="evil\x1b[2Jname.zip"',  # B-49
        "attachment; filename*=UTF-8''evil%0Aname.zip",
        "attachment; filename*=UTF-8''bad%FFutf8.zip",
    ],
)
def test_a_hostile_content_disposition_name_is_ignored_with_a_warning(header, caplog):
    with caplog.at_level(logging.WARNING, logger="eoharvest.adapters.archive_safety"):
        assert filename_from_content_disposition(header, SCENE) is None
    if "%FF" not in header:
        assert "ignoring the server's file name" in caplog.text
        assert "\x1b" not in caplog.text and "\n" not in caplog.text.strip()


def test_a_matching_content_disposition_name_is_returned_as_a_hint():
    assert filename_from_content_disposition(f'attachment; filename="{SCENE}"', SCENE) == SCENE
    assert filename_from_content_disposition(f"attachment; filename={SCENE}", SCENE) == SCENE
    encoded = "attachment; filename*=UTF-8''caf%C3%A9.zip"
    assert filename_from_content_disposition(encoded, "café.zip") == "café.zip"


def test_a_safe_but_different_content_disposition_name_is_ignored_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert filename_from_content_disposition('attachment; filename="other.zip"', SCENE) is None
    assert "expected" in caplog.text


def test_without_an_expected_name_the_header_is_only_validated():
    assert filename_from_content_disposition('inline; filename="a.tar"', None) == "a.tar"
    assert filename_from_content_disposition('inline; filename="../a.tar"', None) is None


@pytest.mark.parametrize("header", [None, "", "attachment", "inline; size=3"])
def test_a_header_without_a_file_name_gives_no_hint(header):
    assert filename_from_content_disposition(header, SCENE) is None


@pytest.mark.parametrize(
    "name, words",
    [
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("/abs/x", "absolute"),
        ("..\\..\\x", "backslash"),
        ("C:\\x", "backslash"),
        ("C:/x", "drive letter"),
        ("a\x00b", "control character"),
        ("a\x07b", "control character"),
        ("d/" + "a" * 256, "255 bytes"),
        ("a/" * 2100, "4096 bytes"),
        ("", "empty"),
        ("./", "no file"),
    ],
)
def test_validate_member_name_rejects_paths_that_could_escape_or_confuse(name, words):
    with pytest.raises(UnsafeArchive) as info:
        validate_member_name(name)
    assert info.value.exit_code == 8
    assert words in info.value.message


@pytest.mark.parametrize(
    "name, normalised",
    [
        ("X.SAFE/GRANULE/a.jp2", "X.SAFE/GRANULE/a.jp2"),
        ("./X.SAFE/manifest.safe", "X.SAFE/manifest.safe"),
        ("X.SAFE/", "X.SAFE"),
        ("a//b", "a/b"),
        ("..a/b..", "..a/b.."),
    ],
)
def test_validate_member_name_normalises_harmless_spellings(name, normalised):
    assert validate_member_name(name) == normalised
