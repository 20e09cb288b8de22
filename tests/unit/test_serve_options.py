"""`eoharvest serve`'s bind and token rules, before anything listens."""

import pytest

from eoharvest.domain.errors import InputError
from eoharvest.entrypoints.serve import check_bind, is_loopback, read_token

TOKEN = "a-long-enough-token-value"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses_are_served_without_further_ado(host):
    assert is_loopback(host)
    check_bind(host, allow_remote=False, token=None, no_auth=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.org"])
def test_another_address_needs_allow_remote_and_a_token_or_no_auth(host):
    with pytest.raises(InputError, match="--allow-remote"):
        check_bind(host, allow_remote=False, token=TOKEN, no_auth=False)
    with pytest.raises(InputError, match="EOHARVEST_SERVE_TOKEN"):
        check_bind(host, allow_remote=True, token=None, no_auth=False)
    check_bind(host, allow_remote=True, token=TOKEN, no_auth=False)
    check_bind(host, allow_remote=True, token=None, no_auth=True)


def test_the_token_comes_from_its_file_first_then_the_environment(tmp_path):
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}-file\n")
    assert read_token(path, {"EOHARVEST_SERVE_TOKEN": TOKEN}) == f"{TOKEN}-file"
    assert read_token(None, {"EOHARVEST_SERVE_TOKEN": TOKEN}) == TOKEN
    assert read_token(None, {}) is None


def test_a_weak_or_unreadable_token_is_refused_without_showing_it(tmp_path):
    with pytest.raises(InputError) as caught:
        read_token(None, {"EOHARVEST_SERVE_TOKEN": "short"})
    assert "short" not in str(caught.value).replace("too short", "")
    with pytest.raises(InputError, match="cannot read the token file"):
        read_token(tmp_path / "missing", {})
