"""The provider table is the only list of providers: everything that names providers reads it."""

import dataclasses
import importlib
import re

from click.testing import CliRunner

import eoharvest
from eoharvest.adapters.providers.table import PROVIDERS, credential_specs, provider_names, spec_for
from eoharvest.application.settings import Endpoints
from eoharvest.entrypoints.cli import cli

ENDPOINT_FIELDS = {f.name for f in dataclasses.fields(Endpoints)}


def provider_choices(*args):
    result = CliRunner().invoke(cli, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return re.search(r"--provider \[([^\]]+)\]", result.output).group(1).split("|")


def test_harvest_download_and_watch_add_offer_exactly_the_providers_of_the_table():
    searchable = list(provider_names(searchable=True))
    assert provider_choices("harvest") == searchable
    assert provider_choices("watch", "add") == searchable
    assert provider_choices("download") == list(provider_names())  # links scenes can be downloaded again
    assert set(provider_names()) - set(searchable) == {"links"}


def test_every_entry_names_configured_endpoints_and_a_package_that_connects_it():
    for spec in PROVIDERS:
        module = importlib.import_module(f"eoharvest.adapters.providers.{spec.kind}.connect")
        assert callable(module.connect), spec.kind
        if spec.kind == "links":
            # Scenes that carry their own URLs: nothing to configure, no search, no platforms.
            assert spec.endpoints == () and spec.platforms == () and not spec.searchable, spec.name
            continue
        assert spec.endpoints and set(spec.endpoints) <= ENDPOINT_FIELDS, spec.name
        assert spec.platforms and spec.searchable, spec.name
    for credentials in credential_specs():
        assert credentials.login_endpoint in ENDPOINT_FIELDS, credentials.key


def test_the_sensor_registry_holds_every_public_class_of_the_table_and_nothing_else():
    registered = dict(eoharvest.SENSOR_REGISTRY.items())
    # a family of classes on one provider (USGS: UsgsTm, UsgsEtm, UsgsOt) registers each by its name
    expected = {spec.name if len(spec.public_classes) == 1 else name: name for spec in PROVIDERS for name in spec.public_classes}
    assert {key: cls.__name__ for key, cls in registered.items()} == expected
    for class_name in expected.values():
        assert getattr(eoharvest, class_name).__name__ == class_name


def test_provider_names_are_unique_and_an_unknown_one_is_an_input_error_listing_them():
    assert len(set(provider_names())) == len(PROVIDERS)
    try:
        spec_for("sentinelhub")
    except eoharvest.InputError as exc:
        assert "sentinelhub" in str(exc) and "earth-search" in exc.hint
    else:
        raise AssertionError("no error for an unknown provider")


def test_listing_providers_imports_no_http_stack():
    import subprocess
    import sys

    code = (
        "import sys; import eoharvest.adapters.providers.table as t; t.provider_names();"
        "print(','.join(m for m in ('httpx', 'sqlalchemy', 'shapely') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""


def test_a_new_table_entry_with_credentials_gets_a_public_class_without_touching_the_api_module(monkeypatch):
    from eoharvest.adapters.providers.table import CredentialSpec, ProviderSpec
    from eoharvest.domain.providers import ProviderCapabilities
    from eoharvest.entrypoints import api

    acme = ProviderSpec(
        name="acme", kind="stac", summary="Acme imagery", endpoints=("stac_url",),
        capabilities=ProviderCapabilities(), public_classes=("AcmeAPI",),
        credentials=CredentialSpec("acme", "stac_url", ("acme_username", "acme_password")),
        platforms=("Sentinel-2",),
    )
    monkeypatch.setattr(api, "PROVIDERS", (*PROVIDERS, acme))
    monkeypatch.setattr(api, "_WRITTEN", dict(api._WRITTEN))
    monkeypatch.setattr("eoharvest.adapters.providers.table.PROVIDERS", (*PROVIDERS, acme))
    cls = api.AcmeAPI
    assert issubclass(cls, api.CredentialedAPI) and cls.provider_name == "acme"
    assert cls.PLATFORMS == ("Sentinel-2",) and "Acme imagery" in cls.__doc__
    assert cls.create_instance(acme_username="u") is None  # no secret: not part of an aggregate
    assert "acme" in api._registry()
