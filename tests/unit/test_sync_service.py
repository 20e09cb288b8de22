"""Incremental passes and their failure handling, over the in-memory catalog and a fake clock."""

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from fakes import FakeClock, InMemoryCatalog, catalog_scene

from eoharvest.application.sync import SyncOptions
from eoharvest.application.sync_service import SyncService
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError
from eoharvest.domain.watch import PUBLISHED, WatchDefinition

DAY = timedelta(days=1)
T0 = datetime(2025, 8, 1, 13, tzinfo=timezone.utc)
AOI = {"type": "Polygon", "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 46], [10, 45]]]}


class Provider:
    """A provider whose catalogue the test grows; records each window it was asked for."""

    def __init__(self):
        self.scenes = {}
        self.starts = []
        self.windows = []
        self.error = None

    def publish(self, scene_id, when, cloud=10.0, provider="earth-search", published=None):
        scene = catalog_scene(scene_id, when=when, cloud=cloud, provider=provider)
        self.scenes[scene_id] = dataclasses.replace(scene, published=published or when)

    def __call__(self, definition, window):
        self.starts.append(window.start)
        self.windows.append(window)
        if self.error:
            raise self.error
        return [s for s in self.scenes.values() if (window.start is None or s.acq_date >= window.start)
                and (window.published_since is None or s.published >= window.published_since)]


@pytest.fixture
def env(tmp_path):
    catalog, provider, clock = InMemoryCatalog(), Provider(), FakeClock(T0 + 30 * DAY)
    service = SyncService(catalog, provider, clock=clock, options=SyncOptions(outdir=str(tmp_path)))
    return catalog, provider, clock, service


def save(catalog, name="s2", provider="earth-search"):
    d = WatchDefinition(provider=provider, platforms=("Sentinel-2",), aoi=AOI, every=timedelta(hours=1),
                        download=False)  # fmt: skip
    catalog.save_search(name, d.to_json())


def test_new_scenes_appearing_between_passes_are_picked_up_exactly_once(env):
    catalog, provider, clock, service = env
    save(catalog)
    provider.publish("a", T0)
    provider.publish("b", T0 + DAY)
    first = service.run_now("s2")
    assert (first.status, first.result.report.new) == ("ok", 2)
    provider.publish("c", T0 + 5 * DAY)
    second = service.run_now("s2")
    assert (second.result.report.found, second.result.report.new) == (3, 1)  # two again, in the overlap
    assert provider.starts == [None, T0 + DAY - 2 * DAY]  # from the watermark minus the overlap
    assert catalog.count() == 3
    assert catalog.search_states()["s2"].watermark == T0 + 5 * DAY


def test_a_scene_republished_inside_the_overlap_updates_its_row_and_is_not_duplicated(env):
    catalog, provider, clock, service = env
    save(catalog)
    provider.publish("a", T0)
    provider.publish("b", T0 + DAY)
    service.run_now("s2")
    provider.publish("b", T0 + DAY, cloud=55.0)  # reprocessed: same id and acquisition time
    again = service.run_now("s2")
    assert (again.result.report.found, again.result.report.new) == (2, 0)
    assert catalog.count() == 2
    assert catalog.get_scene("earth-search", "b").cloudcover_percentage == 55.0


def test_a_failing_search_backs_off_exponentially_and_commits_no_watermark(env):
    catalog, provider, clock, service = env
    save(catalog)
    provider.error = ProviderResponseError("503 from the provider")
    outcome = service.run_scheduled("s2")
    state = catalog.search_states()["s2"]
    assert outcome.status == "failed" and "503" in state.last_error
    assert (state.failures, state.watermark, state.next_run_at) == (1, None, clock.now() + timedelta(hours=1))
    clock.advance(3600)
    service.gate.blocked_until.clear()  # isolate the per-search backoff from the provider's
    service.run_scheduled("s2")
    assert catalog.search_states()["s2"].next_run_at == clock.now() + timedelta(hours=2)
    clock.advance(3600)  # only half of the two-hour backoff has passed
    service.gate.blocked_until.clear()
    assert service.run_scheduled("s2").status == "skipped"
    provider.error = None
    provider.publish("a", T0)
    assert service.run_now("s2").status == "ok"
    assert catalog.search_states()["s2"].failures == 0


def test_a_provider_outage_holds_back_every_search_of_that_provider_only(env):
    catalog, provider, clock, service = env
    save(catalog, "one")
    save(catalog, "two")
    save(catalog, "cdse", provider="copernicus")
    provider.error = ProviderResponseError("connection refused")
    assert service.run_scheduled("one").status == "failed"
    skipped = service.run_scheduled("two")
    assert skipped.status == "skipped" and "backing off" in skipped.detail
    assert len(provider.starts) == 1  # the provider was not asked again
    assert service.run_scheduled("cdse").status == "failed"  # another provider is still tried
    clock.advance(61)
    provider.error = None
    assert service.run_scheduled("two").status == "ok"


def test_an_auth_error_pauses_the_providers_searches_until_watch_run(env):
    catalog, provider, clock, service = env
    save(catalog, "one")
    save(catalog, "two")
    provider.error = AuthError("401: token refused")
    paused = service.run_scheduled("one")
    assert paused.status == "paused" and "eoharvest watch run one" in paused.detail
    assert catalog.search_states()["one"].paused
    clock.advance(30 * 86400)
    assert service.run_scheduled("two").status == "skipped"
    assert len(provider.starts) == 1
    provider.error = None
    assert service.run_now("two").status == "ok"  # an explicit run lifts the pause
    # "one" keeps its own pause (stored in its state) until `watch enable` or `watch run one`.
    assert service.run_scheduled("one").status == "skipped"
    service.enable("one")
    assert service.run_scheduled("one").status == "ok"
    assert catalog.search_states()["one"].paused is None


def test_a_cancelled_pass_commits_nothing_and_the_next_pass_searches_the_same_window(env):
    catalog, provider, clock, service = env
    save(catalog)
    provider.publish("a", T0)
    service.run_now("s2")
    provider.publish("b", T0 + 3 * DAY)
    before = catalog.search_states()["s2"]
    assert service.run_now("s2", cancel_requested=lambda: True).status == "cancelled"
    assert catalog.search_states()["s2"] == before
    service.run_now("s2")
    assert provider.starts[-1] == provider.starts[-2] == T0 - 2 * DAY
    assert catalog.count() == 2


def test_a_removed_search_is_skipped_by_the_scheduler(env):
    catalog, provider, clock, service = env
    save(catalog)
    assert catalog.remove_search("s2") and not catalog.remove_search("s2")
    assert service.run_scheduled("s2").status == "skipped"


def test_a_pause_lifted_by_watch_run_in_another_process_is_followed_by_the_daemon(env, tmp_path):
    catalog, provider, clock, daemon_service = env
    save(catalog, "one")
    save(catalog, "two")
    provider.error = AuthError("401: token refused")
    assert daemon_service.run_scheduled("one").status == "paused"
    provider.error = None
    cli_service = SyncService(catalog, provider, clock=clock, options=SyncOptions(outdir=str(tmp_path)))
    assert cli_service.run_now("one").status == "ok"  # `eoharvest watch run one` in the CLI
    clock.advance(2 * 3600)
    assert daemon_service.run_scheduled("two").status == "ok"


def test_an_unreadable_saved_search_does_not_stop_the_others(env):
    catalog, provider, clock, service = env
    save(catalog, "good")
    catalog.save_search("broken", {"provider": "earth-search", "every": "0s"})
    assert service.run_scheduled("good").status == "ok"


def test_a_search_failing_on_its_second_page_catalogues_the_first_and_commits_no_watermark(env, tmp_path):
    from eoharvest.application.sensor_api import SearchIterator
    from eoharvest.domain.models import SearchPage

    catalog, _, clock, _ = env
    save(catalog)
    requested_with_rows = []

    def open_search(definition, window):
        def page(ref):
            requested_with_rows.append(catalog.count())
            if ref is None:
                scenes = (catalog_scene("a", when=T0, provider="earth-search"), catalog_scene("b", when=T0 + DAY, provider="earth-search"))
                return SearchPage(scenes, next_ref=1)
            raise ProviderResponseError("HTTP 502 on page 2")

        return SearchIterator(page)

    service = SyncService(catalog, open_search, clock=clock, options=SyncOptions(outdir=str(tmp_path)))
    outcome = service.run_now("s2")
    assert outcome.status == "failed" and "HTTP 502" in catalog.search_states()["s2"].last_error
    assert catalog.count() == 2 and requested_with_rows[0] == 0
    assert catalog.search_states()["s2"].watermark is None


def test_a_paused_search_stays_paused_after_a_daemon_restart_and_watch_enable_resumes_it(env, tmp_path):
    catalog, provider, clock, service = env
    save(catalog)
    provider.error = AuthError("401: token refused")
    assert service.run_scheduled("s2").status == "paused"
    provider.error = None
    restarted = SyncService(catalog, provider, clock=clock, options=SyncOptions(outdir=str(tmp_path)))
    clock.advance(7 * 86400)
    skipped = restarted.run_scheduled("s2")
    assert skipped.status == "skipped" and "401: token refused" in skipped.detail
    assert "eoharvest watch enable s2" in catalog.search_states()["s2"].paused
    assert len(provider.starts) == 1  # never retried while paused
    resumed = restarted.enable("s2").state
    assert (resumed.paused, resumed.failures, resumed.next_run_at) == (None, 0, None)
    assert restarted.run_scheduled("s2").status == "ok"


def test_a_search_the_provider_refuses_is_paused_with_its_reason_not_retried_with_backoff(env):
    catalog, provider, clock, service = env
    save(catalog, "gone")
    save(catalog, "other")
    provider.error = InputError("collection 'sentinel-2-l2a' does not exist on this server")
    paused = service.run_scheduled("gone")
    assert paused.status == "paused" and "sentinel-2-l2a" in paused.detail
    state = catalog.search_states()["gone"]
    assert "watch edit gone" in state.paused and "watch enable gone" in state.paused
    for _ in range(5):  # days later, still not retried
        clock.advance(86400)
        assert service.run_scheduled("gone").status == "skipped"
    assert len(provider.starts) == 1
    provider.error = None
    assert service.run_scheduled("other").status == "ok"  # the provider itself is not held back


def test_a_disabled_search_is_not_scheduled_but_watch_run_still_runs_it(env):
    catalog, provider, clock, service = env
    save(catalog)
    assert catalog.set_search_enabled("s2", False) and not catalog.set_search_enabled("nope", False)
    outcome = service.run_scheduled("s2")
    assert outcome.status == "skipped" and "disabled" in outcome.detail and provider.starts == []
    assert service.run_now("s2").status == "ok"
    service.enable("s2")
    assert service.run_scheduled("s2").status == "ok"


def published_service(catalog, provider, clock, tmp_path):
    return SyncService(catalog, provider, clock=clock, options=SyncOptions(outdir=str(tmp_path)),
                       watermark_kind=lambda definition: PUBLISHED)  # fmt: skip


def test_a_scene_published_five_days_after_its_acquisition_is_found_by_the_next_pass(env, tmp_path):
    catalog, provider, clock, _ = env
    service = published_service(catalog, provider, clock, tmp_path)
    save(catalog)
    provider.publish("a", T0, published=T0 + timedelta(hours=2))
    provider.publish("b", T0 + 4 * DAY, published=T0 + 4 * DAY + timedelta(hours=2))
    first = service.run_now("s2")
    assert first.result.report.new == 2
    state = catalog.search_states()["s2"]
    assert (state.watermark, state.watermark_kind) == (T0 + 4 * DAY + timedelta(hours=2), "published")
    # Acquired on day 1, published on day 6: older than any acquisition window would reach.
    provider.publish("late", T0 + DAY, published=T0 + 6 * DAY)
    clock.advance(2 * 86400)
    second = service.run_now("s2")
    assert catalog.get_scene("earth-search", "late") is not None
    assert (second.result.report.found, second.result.report.new) == (2, 1)  # b again (overlap), late
    window = provider.windows[-1]
    assert (window.kind, window.start, window.published_since) == ("published", None, T0 + 2 * DAY + timedelta(hours=2))
    assert catalog.search_states()["s2"].watermark == T0 + 6 * DAY


def test_the_same_late_scene_is_missed_by_an_acquisition_watermark(env):
    catalog, provider, clock, service = env  # the default: acquisition time
    save(catalog)
    provider.publish("a", T0)
    provider.publish("b", T0 + 4 * DAY)
    service.run_now("s2")
    provider.publish("late", T0 + DAY, published=T0 + 6 * DAY)
    service.run_now("s2")
    assert catalog.get_scene("earth-search", "late") is None
    assert catalog.search_states()["s2"].watermark_kind == "acquired"


def test_an_acquisition_watermark_carries_over_when_the_provider_gains_a_publication_filter(env, tmp_path):
    catalog, provider, clock, service = env
    save(catalog)
    provider.publish("a", T0)
    service.run_now("s2")  # acquisition watermark T0
    upgraded = published_service(catalog, provider, clock, tmp_path)
    provider.publish("late", T0 - 10 * DAY, published=T0 + DAY)
    outcome = upgraded.run_now("s2")
    assert provider.windows[-1].published_since == T0 - 2 * DAY
    assert outcome.result.report.new == 1
    state = catalog.search_states()["s2"]
    assert (state.watermark, state.watermark_kind) == (T0 + DAY, "published")
