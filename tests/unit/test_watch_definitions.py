"""Saved-search definitions: everything `harvest` can say, stored without secrets, read back
from older versions, and printed as the `harvest` command that runs the same search."""

from datetime import datetime, timedelta, timezone

import click
import pytest

from eoharvest.domain.errors import InputError
from eoharvest.domain.watch import (
    ACQUIRED,
    PUBLISHED,
    SearchState,
    WatchDefinition,
    check_no_secrets,
    search_window,
)
from eoharvest.entrypoints.cli_harvest import harvest_command as harvest_cli
from eoharvest.entrypoints.watch_spec import definition_from_options, harvest_arguments

T = datetime(2025, 8, 10, 12, tzinfo=timezone.utc)
AOI = {"type": "Polygon", "coordinates": [[[10.0, 45.0], [11.0, 45.0], [11.0, 46.0], [10.0, 46.0], [10.0, 45.0]]]}
FULL = {
    "provider": "stac", "stac_url": "https://stac.example.org/v1", "platforms": ("Sentinel-2", "S1"),
    "aoi": "10,45,11,46", "start": "2024-05-01", "end": "2024-05-31", "cloud_min": 2.0, "cloud_max": 30.5,
    "product_type": "L2A", "collections": ("sentinel-2-c1-l2a",),
    "search_options": ('query={"eo:snow_cover": {"lt": 5}}', "sortby=-properties.datetime", 'ids=["017"]'),
    "assets": "visual, B04", "every": "6h", "overlap": "3d", "download": False, "order": False,
}  # fmt: skip


def parsed(**opts):
    definition, _ = definition_from_options(opts, vector_reader=None)
    return definition


def test_a_definition_keeps_every_harvest_option_and_its_endpoint_through_json():
    definition = parsed(**FULL)
    assert definition.stac_url == "https://stac.example.org/v1"
    assert definition.platforms == ("Sentinel-2", "Sentinel-1")
    assert definition.end == datetime(2024, 5, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert definition.search_options == {"query": {"eo:snow_cover": {"lt": 5}}, "sortby": "-properties.datetime",
                                         "ids": ["017"]}  # fmt: skip
    assert (definition.assets, definition.overlap, definition.download, definition.order) == (
        ("visual", "B04"), timedelta(days=3), False, False)
    assert WatchDefinition.from_json(definition.to_json()) == definition


def test_a_definition_written_by_an_older_version_reads_with_the_defaults_of_then():
    old = {"provider": "earth-search", "platforms": ["Sentinel-2"], "aoi": AOI, "every": "1h", "cloud_max": 30,
           "download": True, "assets": ["visual"], "since": "2024-01-01T00:00:00+00:00", "overlap_seconds": 172800}  # fmt: skip
    definition = WatchDefinition.from_json(old)
    assert (definition.stac_url, definition.end, definition.collections, definition.search_options, definition.order) == (
        None, None, (), {}, True)


def test_the_printed_harvest_command_parses_back_to_the_same_search():
    definition = parsed(**FULL)
    context = harvest_cli.make_context("harvest", harvest_arguments(definition))
    again = parsed(**{**context.params, "every": "6h", "overlap": "3d"})
    assert again.search_scope() == definition.search_scope()
    assert (again.assets, again.download, again.order) == (definition.assets, False, False)


def test_a_text_search_option_that_looks_like_json_stays_text_in_the_printed_command():
    definition = parsed(aoi="10,45,11,46", provider="copernicus", search_options=("tileId=17TPJ",))
    quoted = WatchDefinition(**{**definition.__dict__, "search_options": {"tileId": "65"}})
    args = harvest_arguments(quoted)
    assert args[args.index("--search-option") + 1] == 'tileId="65"'


def test_watch_edit_changes_only_what_is_given_and_clear_removes_a_value():
    base = parsed(**FULL)
    edited, _ = definition_from_options({"cloud_max": 10.0, "clear": ("end", "search-options")}, vector_reader=None, base=base)
    assert (edited.cloud_max, edited.end, edited.search_options) == (10.0, None, {})
    assert (edited.stac_url, edited.collections, edited.cloud_min) == (base.stac_url, base.collections, 2.0)
    with pytest.raises(InputError, match="--stac-url does not apply"):
        definition_from_options({"provider": "copernicus"}, vector_reader=None, base=base)


@pytest.mark.parametrize("url", ["https://host/v1?access_token=abc123", "https://host/v1?sig=XYZXYZ&se=1"])
def test_a_definition_that_would_store_a_credential_is_refused_without_showing_it(url):
    definition = WatchDefinition("stac", ("Sentinel-2",), AOI, timedelta(hours=1), stac_url=url)
    with pytest.raises(InputError) as error:
        check_no_secrets(definition)
    assert "abc123" not in str(error.value) and "XYZXYZ" not in str(error.value)


def test_a_publication_window_searches_the_whole_period_published_since_the_watermark_minus_the_overlap():
    definition = WatchDefinition("copernicus", ("Sentinel-2",), AOI, timedelta(hours=1),
                                 since=T - timedelta(days=300), end=T)  # fmt: skip
    first = search_window(definition, SearchState(), PUBLISHED)
    assert (first.start, first.end, first.published_since) == (T - timedelta(days=300), T, None)
    later = search_window(definition, SearchState(watermark=T), PUBLISHED)
    assert (later.start, later.published_since) == (T - timedelta(days=300), T - timedelta(days=2))
    acquired = search_window(definition, SearchState(watermark=T), ACQUIRED)
    assert (acquired.start, acquired.published_since) == (T - timedelta(days=2), None)


def test_the_cli_option_names_are_the_ones_harvest_defines():
    from eoharvest.entrypoints.cli_watch import add

    harvest_names = {p.name for p in harvest_cli.params if isinstance(p, click.Option)}
    shared = {"provider", "stac_url", "platforms", "aoi", "start", "end", "cloud_min", "cloud_max", "product_type",
              "collections", "search_options", "assets", "fix_geometry", "download", "order"}  # fmt: skip
    assert shared <= harvest_names
    assert shared <= {p.name for p in add.params}
