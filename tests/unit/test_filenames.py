"""Server- and provider-supplied names (reliability-test-plan 4.2, B-40, B-48, B-49)."""

import pytest

from eoharvest.domain.filenames import collision_key, safe_filename, validate_member_name
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


def test_collision_key_matches_names_that_differ_only_in_case_or_unicode_form():
    assert collision_key("scene/B02.jp2") == collision_key("SCENE/b02.JP2")
    assert collision_key("caf\u00e9.xml") == collision_key("cafe\u0301.xml")
    assert collision_key("a/b") != collision_key("a/c")
