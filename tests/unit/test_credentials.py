"""LayeredCredentials: look-up order, netrc safety (B-24), the B-22 message, odd characters (B-26)."""

import logging
import os
from types import SimpleNamespace

import httpx
import pytest

from eoharvest.adapters.credentials import LayeredCredentials
from eoharvest.adapters.providers.table import netrc_hosts
from eoharvest.application.settings import Endpoints
from eoharvest.domain.errors import AuthError
from eoharvest.domain.ports import Credentials
from eoharvest.domain.redaction import SECRETS, redact

HOST = "identity.dataspace.copernicus.eu"
CANARY = "c4n4ry:p@ss%w0rd-ü"


class FakeKeyring:
    """Stands in for the ``keyring`` package: a dict of (service, username) -> password."""

    def __init__(self, entries=None, broken=False):
        self.entries = dict(entries or {})
        self.broken = broken

    def get_credential(self, service, username):
        if self.broken:
            raise RuntimeError("No recommended backend was available")
        for (svc, user), password in self.entries.items():
            if svc == service and (username is None or user == username):
                return SimpleNamespace(username=user, password=password)
        return None


def store(tmp_path, environ=None, keyring=False, **kw):
    return LayeredCredentials(environ=environ or {}, hosts=netrc_hosts(Endpoints()), home=tmp_path,
                              keyring_module=keyring, **kw)


def write_netrc(path, text, mode=0o600):
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_the_netrc_machine_is_the_host_of_the_configured_token_url():
    assert netrc_hosts(Endpoints())["copernicus"] == HOST
    assert netrc_hosts(Endpoints(cdse_token_url="http://127.0.0.1:9/token"))["copernicus"] == "127.0.0.1"


def test_explicit_arguments_win_over_the_environment(tmp_path):
    env = {"EOHARVEST_COPERNICUS_USERNAME": "env-user", "EOHARVEST_COPERNICUS_PASSWORD": "env-secret"}
    found = store(tmp_path, env, explicit={"copernicus": Credentials("arg-user", "arg-secret")}).get("copernicus")
    assert (found.username, found.secret, found.source) == ("arg-user", "arg-secret", "arguments")


def test_environment_variables_are_read_per_provider(tmp_path):
    env = {"EOHARVEST_COPERNICUS_USERNAME": "me", "EOHARVEST_COPERNICUS_PASSWORD": "pw-1234",
           "EOHARVEST_CMR_USERNAME": "nasa", "EOHARVEST_CMR_PASSWORD": "pw-5678", "EOHARVEST_PLANET_API_KEY": "PLAK-key"}
    creds = store(tmp_path, env)
    assert creds.get("copernicus").username == "me"
    assert creds.get("cmr").secret == "pw-5678"
    assert creds.get("planet") == Credentials(None, "PLAK-key", "environment (EOHARVEST_PLANET_API_KEY)")
    assert creds.get("usgs") is None


def test_a_username_without_a_password_in_the_environment_is_not_credentials(tmp_path):
    assert store(tmp_path, {"EOHARVEST_COPERNICUS_USERNAME": "me"}).get("copernicus") is None


def test_a_private_netrc_entry_for_the_token_host_is_used(tmp_path):
    write_netrc(tmp_path / ".netrc", f"machine other.example login x password y\nmachine {HOST} login me@example.com password \"secret with space\"\n")
    found = store(tmp_path).get("copernicus")
    assert (found.username, found.secret) == ("me@example.com", "secret with space")
    assert str(tmp_path / ".netrc") in found.source


def test_netrc_named_by_the_NETRC_variable_is_checked_too(tmp_path):
    path = write_netrc(tmp_path / "elsewhere", f"machine {HOST} login me password pw-netrc\n", mode=0o644)
    with pytest.raises(AuthError) as err:
        store(tmp_path, {"NETRC": str(path)}).get("copernicus")
    assert f"permissions too open (0644), run chmod 600 {path}" in str(err.value)
    assert err.value.exit_code == 3


def test_a_group_readable_netrc_is_refused_with_the_chmod_hint(tmp_path):
    path = write_netrc(tmp_path / ".netrc", f"machine {HOST} login me password pw-netrc\n", mode=0o640)
    with pytest.raises(AuthError, match=r"permissions too open \(0640\), run chmod 600"):
        store(tmp_path).get("copernicus")


def test_a_netrc_default_entry_is_not_sent_to_a_provider(tmp_path):
    write_netrc(tmp_path / ".netrc", "default login anyone password pw-default\n")
    assert store(tmp_path).get("copernicus") is None


def test_a_broken_netrc_is_reported_without_quoting_its_content(tmp_path):
    write_netrc(tmp_path / ".netrc", f"machine {HOST} login me password\n")
    try:
        found = store(tmp_path).get("copernicus")
    except AuthError as exc:
        assert "cannot read" in str(exc)
    else:
        assert found is None


def test_keyring_is_used_when_present_and_a_missing_backend_is_not_an_error(tmp_path):
    ring = FakeKeyring({("eoharvest-copernicus", "me"): "pw-ring"})
    found = store(tmp_path, keyring=ring).get("copernicus")
    assert (found.username, found.secret, found.source) == ("me", "pw-ring", "keyring eoharvest-copernicus")
    assert store(tmp_path, keyring=FakeKeyring(broken=True)).get("copernicus") is None


def test_missing_credentials_name_every_place_looked_in(tmp_path):
    creds = store(tmp_path)
    with pytest.raises(AuthError) as err:
        creds.require("copernicus")
    message = str(err.value)
    assert message.startswith("no credentials for copernicus: looked in ")
    for place in ("EOHARVEST_COPERNICUS_USERNAME", "EOHARVEST_COPERNICUS_PASSWORD",
                  f"{tmp_path / '.netrc'} (machine {HOST})", "keyring service eoharvest-copernicus"):
        assert place in message
    assert err.value.exit_code == 3


def test_found_secrets_are_registered_for_redaction(tmp_path):
    store(tmp_path, {"EOHARVEST_COPERNICUS_USERNAME": "me", "EOHARVEST_COPERNICUS_PASSWORD": CANARY}).get("copernicus")
    assert CANARY in SECRETS.values()
    assert CANARY not in redact(f"login failed for password {CANARY} today")


def test_odd_characters_survive_form_encoding_of_the_token_request(tmp_path):
    seen = {}

    def identity(request: httpx.Request) -> httpx.Response:
        seen["body"] = request.content
        seen["url"] = str(request.url)
        return httpx.Response(200, json={"access_token": "a", "expires_in": 600})

    creds = store(tmp_path, {"EOHARVEST_COPERNICUS_USERNAME": "ü@x:y%z", "EOHARVEST_COPERNICUS_PASSWORD": CANARY}).get("copernicus")
    with httpx.Client(transport=httpx.MockTransport(identity)) as client:
        client.post("https://identity.example/token", data={"username": creds.username, "password": creds.secret})
    from urllib.parse import parse_qs

    form = parse_qs(seen["body"].decode("ascii"))
    assert form == {"username": ["ü@x:y%z"], "password": [CANARY]}
    assert CANARY not in seen["url"] and "%40" not in seen["url"]


def test_the_password_never_reaches_messages_or_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    creds = store(tmp_path, {"EOHARVEST_COPERNICUS_USERNAME": "me", "EOHARVEST_COPERNICUS_PASSWORD": CANARY})
    found = creds.get("copernicus")
    assert CANARY not in repr(found)
    assert CANARY not in caplog.text
    assert CANARY not in " ".join(creds.searched("copernicus"))
