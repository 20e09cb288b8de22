import pytest

from eoharvest.domain import errors as e


@pytest.mark.parametrize(
    "cls, code",
    [
        (e.InputError, 2),
        (e.AuthError, 3),
        (e.ProviderResponseError, 4),
        (e.IntegrityError, 5),
        (e.RetryExhausted, 6),
        (e.TooSlow, 6),
        (e.InsufficientSpace, 7),
        (e.UnsafeArchive, 8),
        (e.UnsafeFilename, 8),
        (e.UnsafeURL, 8),
        (e.CatalogBusy, 9),
        (e.UnsupportedEnvironment, 10),
        (e.OrdersPending, 11),
    ],
)
def test_each_error_class_has_its_documented_exit_code(cls, code):
    assert cls("x").exit_code == code
    assert issubclass(cls, e.EoharvestError)


def test_the_hint_is_part_of_the_message():
    err = e.InputError("cloud_max 101 is out of range", hint="give a percentage 0-100")
    assert str(err) == "cloud_max 101 is out of range (give a percentage 0-100)"


def test_download_error_keeps_the_reference_signature_and_takes_the_cause_exit_code():
    plain = e.DownloadError("S2A_X", "boom")
    assert plain.scene_id == "S2A_X"
    assert plain.args == ("S2A_X", "boom")
    assert plain.exit_code == 1
    try:
        try:
            raise e.IntegrityError("md5 mismatch")
        except e.IntegrityError as cause:
            raise e.DownloadError("S2A_X", "verification failed") from cause
    except e.DownloadError as err:
        assert err.exit_code == 5
        assert "S2A_X" in str(err)


def test_download_cancelled_exits_like_an_interrupt():
    assert e.DownloadCancelled().exit_code == 130


def test_environment_error_alias_is_the_unsupported_environment_class():
    assert e.EnvironmentError is e.UnsupportedEnvironment
    assert e.InsufficientSpace("full").exit_code == 7 and isinstance(e.InsufficientSpace("x"), OSError)
