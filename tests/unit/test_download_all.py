"""download_all and BulkDownloader: results, failures, activation polling, limits, cancellation."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import (
    FakeClock,
    FakeFetcher,
    FakeSceneSource,
    bind_fake_downloaders,
    bind_to_source,
    make_scene,
)

from eoharvest.adapters.clock import SystemClock
from eoharvest import BulkDownloader, DownloadSummary, download_all
from eoharvest.domain.errors import (
    DownloadCancelled,
    DownloadError,
    HostPaused,
    InputError,
    IntegrityError,
    ProviderResponseError,
    RetryExhausted,
)
from eoharvest.domain.models import FailedDownload

BOTH_MODES = pytest.mark.parametrize("use_threads", [False, True], ids=["sequential", "threaded"])


def scenes_of(*scene_ids, source=None, fetcher=None, provider="fake"):
    source = source or FakeSceneSource()
    return bind_to_source([make_scene(i, provider=provider) for i in scene_ids], source, fetcher)


def downloaded(summary):
    return sorted(r.scene.scene_id for r in summary.results)


def cancel_after(seconds):
    """A cancel_requested callback that turns true ``seconds`` from now."""
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() >= deadline


@BOTH_MODES
def test_every_scene_is_downloaded_into_outdir(tmp_path, use_threads):
    fetcher = FakeFetcher()
    summary = download_all(scenes_of("a", "b", "c", fetcher=fetcher), str(tmp_path),
                           use_threads=use_threads)
    assert isinstance(summary, DownloadSummary)
    assert downloaded(summary) == ["a", "b", "c"]
    assert summary.failures == [] and summary.ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "b.zip", "c.zip"]


def test_the_summary_unpacks_as_results_and_failures(tmp_path):
    results, failures = download_all(scenes_of("a", fetcher=FakeFetcher()), str(tmp_path))
    assert [r.scene.scene_id for r in results] == ["a"]
    assert failures == []


def test_existing_files_are_skipped_unless_overwrite(tmp_path):
    (tmp_path / "a.zip").write_bytes(b"old")
    fetcher = FakeFetcher()
    summary = download_all(scenes_of("a", fetcher=fetcher), str(tmp_path))
    assert summary.results[0].skipped
    assert (tmp_path / "a.zip").read_bytes() == b"old"
    download_all(scenes_of("a", fetcher=fetcher), str(tmp_path), overwrite=True)
    assert (tmp_path / "a.zip").read_bytes() == b"fake bytes of a\n"


@BOTH_MODES
def test_scene_filter_selects_the_scenes_to_download(tmp_path, use_threads):
    fetcher = FakeFetcher()
    summary = download_all(scenes_of("keep1", "drop", "keep2", fetcher=fetcher), str(tmp_path),
                           scene_filter=lambda s: s.scene_id.startswith("keep"),
                           use_threads=use_threads)
    assert downloaded(summary) == ["keep1", "keep2"]
    assert "drop" not in fetcher.calls


@BOTH_MODES
def test_skip_error_collects_failed_downloads_and_goes_on(tmp_path, use_threads):
    fetcher = FakeFetcher(fail={"b": IntegrityError("checksum mismatch")})
    summary = download_all(scenes_of("a", "b", "c", fetcher=fetcher), str(tmp_path),
                           skip_error=True, use_threads=use_threads)
    assert downloaded(summary) == ["a", "c"]
    [failure] = summary.failures
    assert isinstance(failure, FailedDownload)
    assert failure.scene_id == "b"
    assert failure.exc_info[0] is IntegrityError
    assert "checksum mismatch" in failure.format()
    assert not summary.ok


@BOTH_MODES
def test_without_skip_error_the_first_failure_raises_download_error_chained_from_the_cause(
    tmp_path, use_threads
):
    cause = IntegrityError("checksum mismatch")
    fetcher = FakeFetcher(fail={"b": cause})
    with pytest.raises(DownloadError) as caught:
        download_all(scenes_of("b", fetcher=fetcher), str(tmp_path), use_threads=use_threads)
    error = caught.value
    assert error.scene_id == "b"
    assert error.args == ("b", "checksum mismatch")
    assert error.__cause__ is cause
    assert error.exit_code == IntegrityError.exit_code


def test_a_failure_stops_the_sequential_run_and_carries_the_partial_summary(tmp_path):
    fetcher = FakeFetcher(fail={"b": OSError("disk error")})
    with pytest.raises(DownloadError) as caught:
        download_all(scenes_of("a", "b", "c", fetcher=fetcher), str(tmp_path), use_threads=False)
    assert fetcher.calls == ["a", "b"]
    assert downloaded(caught.value.summary) == ["a"]


def test_a_scene_not_bound_to_a_provider_is_a_collected_failure(tmp_path):
    summary = download_all([make_scene("orphan")], str(tmp_path), skip_error=True)
    assert summary.failures[0].exc_info[0] is InputError


@BOTH_MODES
def test_offline_scenes_are_polled_until_ready_using_the_clock(tmp_path, use_threads):
    source = FakeSceneSource(ready_after={"a": 3})
    clock = FakeClock()
    summary = download_all(scenes_of("a", source=source, fetcher=FakeFetcher()), str(tmp_path),
                           use_threads=use_threads, clock=clock, activation_wait=30)
    assert downloaded(summary) == ["a"]
    assert source.activations["a"] == 4
    assert clock.slept == pytest.approx(90, abs=0.5)


def test_bulk_downloader_download_all_takes_activation_wait_as_an_argument(tmp_path):
    source = FakeSceneSource(ready_after={"a": 2})
    clock = FakeClock()
    bulk = BulkDownloader(scenes_of("a", source=source, fetcher=FakeFetcher()), clock=clock)
    results, failures = bulk.download_all(str(tmp_path), activation_wait=5)
    assert len(results) == 1 and failures == []
    assert clock.slept == pytest.approx(10, abs=0.5)


def test_the_providers_retry_after_replaces_the_default_wait(tmp_path):
    source = FakeSceneSource(ready_after={"a": 1}, retry_after=120)
    clock = FakeClock()
    download_all(scenes_of("a", source=source, fetcher=FakeFetcher()), str(tmp_path),
                 use_threads=False, clock=clock)
    assert clock.slept == pytest.approx(120, abs=0.5)


def test_a_plain_downloader_whose_activate_returns_false_is_polled_too(tmp_path):
    clock = FakeClock()
    scenes, made = bind_fake_downloaders([make_scene("a")], FakeFetcher(), ready_after=2)
    summary = download_all(scenes, str(tmp_path), clock=clock, activation_wait=3)
    assert downloaded(summary) == ["a"]
    assert made["a"].activate_calls == 3
    assert (tmp_path / "a.dat").exists()


@BOTH_MODES
def test_an_offline_scene_does_not_hold_up_the_scenes_behind_it(tmp_path, use_threads):
    source = FakeSceneSource(ready_after={"offline": 2})
    summary = download_all(scenes_of("offline", "online", source=source, fetcher=FakeFetcher()),
                           str(tmp_path), clock=FakeClock(), use_threads=use_threads)
    assert [r.scene.scene_id for r in summary.results] == ["online", "offline"]


@BOTH_MODES
def test_a_scene_that_never_becomes_ready_fails_after_the_activation_timeout(tmp_path, use_threads):
    source = FakeSceneSource(ready_after={"a": 10**9})
    clock = FakeClock()
    summary = download_all(scenes_of("a", source=source, fetcher=FakeFetcher()), str(tmp_path),
                           skip_error=True, use_threads=use_threads, clock=clock,
                           activation_wait=60, activation_timeout=600)
    [failure] = summary.failures
    assert isinstance(failure.error, RetryExhausted)
    assert "still not ready" in str(failure.error)
    assert 540 <= clock.slept <= 600.5


def test_activation_polling_is_bounded_even_if_the_clock_never_advances(tmp_path):
    class FrozenClock(FakeClock):
        def sleep(self, seconds):
            self.sleeps.append(seconds)

    source = FakeSceneSource(ready_after={"a": 10**9})
    with pytest.raises(DownloadError) as caught:
        download_all(scenes_of("a", source=source, fetcher=FakeFetcher()), str(tmp_path),
                     use_threads=False, clock=FrozenClock(), activation_wait=1,
                     activation_timeout=5)
    assert isinstance(caught.value.__cause__, RetryExhausted)
    assert source.activations["a"] <= 10


@BOTH_MODES
def test_a_permanent_activation_refusal_fails_at_once(tmp_path, use_threads):
    source = FakeSceneSource(refuse={"a": "product removed from the archive"})
    clock = FakeClock()
    with pytest.raises(DownloadError, match="product removed") as caught:
        download_all(scenes_of("a", source=source, fetcher=FakeFetcher()), str(tmp_path),
                     use_threads=use_threads, clock=clock)
    assert isinstance(caught.value.__cause__, ProviderResponseError)
    assert source.activations["a"] == 1
    assert clock.slept == 0


@BOTH_MODES
def test_cancel_stops_a_slow_download_within_a_second(tmp_path, use_threads):
    fetcher = FakeFetcher(delay=30)
    started = time.monotonic()
    with pytest.raises(DownloadCancelled):
        download_all(scenes_of("a", "b", fetcher=fetcher), str(tmp_path),
                     use_threads=use_threads, cancel_requested=cancel_after(0.3))
    assert time.monotonic() - started < 1.5
    assert fetcher.cancelled


@BOTH_MODES
def test_cancel_stops_a_run_waiting_for_activation_within_a_second(tmp_path, use_threads):
    source = FakeSceneSource(ready_after={"a": 10**9})
    started = time.monotonic()
    with pytest.raises(DownloadCancelled):
        download_all(scenes_of("a", source=source, fetcher=FakeFetcher()), str(tmp_path),
                     use_threads=use_threads, clock=SystemClock(), activation_wait=30,
                     cancel_requested=cancel_after(0.3))
    assert time.monotonic() - started < 1.5


def test_threaded_cancel_returns_even_if_a_download_ignores_stopped_func(tmp_path):
    fetcher = FakeFetcher(delay=2, ignore_stop=True)
    started = time.monotonic()
    with pytest.raises(DownloadCancelled):
        download_all(scenes_of("a", fetcher=fetcher), str(tmp_path),
                     cancel_requested=cancel_after(0.2))
    assert time.monotonic() - started < 1.5


def test_a_cancel_requested_before_the_start_downloads_nothing(tmp_path):
    fetcher = FakeFetcher()
    with pytest.raises(DownloadCancelled):
        download_all(scenes_of("a", fetcher=fetcher), str(tmp_path), cancel_requested=lambda: True)
    assert fetcher.calls == []


def test_cancel_requested_is_only_called_from_the_calling_thread(tmp_path):
    callers = set()

    def cancel_requested():
        callers.add(threading.get_ident())
        return False

    download_all(scenes_of("a", "b", "c", fetcher=FakeFetcher(delay=0.2)), str(tmp_path),
                 cancel_requested=cancel_requested)
    assert callers == {threading.get_ident()}


def test_the_per_provider_limit_is_never_exceeded(tmp_path):
    fetcher = FakeFetcher(delay=0.1)
    scenes = scenes_of(*[f"c{i}" for i in range(6)], fetcher=fetcher, provider="cdse")
    scenes += scenes_of(*[f"u{i}" for i in range(6)], fetcher=fetcher, provider="usgs")
    summary = download_all(scenes, str(tmp_path), max_workers=8, max_per_provider=2,
                           provider_limits={"usgs": 1})
    assert len(summary.results) == 12
    assert fetcher.max_concurrent["cdse"] == 2
    assert fetcher.max_concurrent["usgs"] == 1


def test_without_a_tight_limit_downloads_of_one_provider_overlap(tmp_path):
    fetcher = FakeFetcher(delay=0.1)
    download_all(scenes_of(*[f"c{i}" for i in range(8)], fetcher=fetcher), str(tmp_path),
                 max_workers=8)
    assert fetcher.max_concurrent["fake"] == 4


def test_orchestration_params_do_not_reach_the_fetcher(tmp_path):
    fetcher = FakeFetcher()
    download_all(scenes_of("a", fetcher=fetcher), str(tmp_path), max_workers=2, activation_timeout=10)
    assert fetcher.extra == [{"skip_error": False}]


def test_an_unknown_download_parameter_is_refused_before_anything_is_fetched(tmp_path):
    fetcher = FakeFetcher()
    with pytest.raises(InputError, match="checksum_policy"):
        download_all(scenes_of("a", fetcher=fetcher), str(tmp_path), checksum_policy="strict")
    assert fetcher.extra == []


@pytest.mark.parametrize("option", [{"max_workers": 0}, {"max_per_provider": "two"},
                                    {"activation_wait": -1}, {"provider_limits": {"x": 0}}])
def test_invalid_orchestration_values_are_input_errors(tmp_path, option):
    with pytest.raises(InputError):
        download_all(scenes_of("a", fetcher=FakeFetcher()), str(tmp_path), **option)


def test_search_errors_while_pulling_scenes_propagate(tmp_path):
    def scenes():
        yield from scenes_of("a", fetcher=FakeFetcher())
        raise ProviderResponseError("page cycle")

    with pytest.raises(ProviderResponseError, match="page cycle"):
        download_all(scenes(), str(tmp_path), skip_error=True, use_threads=False)


class PausedHostFetcher(FakeFetcher):
    """Scenes of provider ``slow`` meet a paused host ``pauses`` times before it answers."""

    def __init__(self, pauses, **kw):
        super().__init__(**kw)
        self.pauses = pauses
        self.order: list[str] = []

    def fetch(self, scene, descriptors, outdir, **kw):
        with self._lock:
            self.order.append(scene.scene_id)
            paused = scene.provider == "slow" and self.pauses > 0
            if paused:
                self.pauses -= 1
        if paused:
            raise HostPaused(f"{scene.scene_id}: not attempted: host paused", retry_in=40.0)
        return super().fetch(scene, descriptors, outdir, **kw)


@BOTH_MODES
def test_a_scene_whose_host_is_paused_waits_for_it_while_other_hosts_go_on(tmp_path, use_threads):
    fetcher = PausedHostFetcher(pauses=1)
    source = FakeSceneSource()
    scenes = scenes_of("p", source=source, fetcher=fetcher, provider="slow") + scenes_of(
        "q", "r", source=source, fetcher=fetcher, provider="fast")
    clock = FakeClock()
    summary = download_all(scenes, str(tmp_path), use_threads=use_threads, clock=clock)
    assert downloaded(summary) == ["p", "q", "r"] and summary.failures == []
    assert fetcher.order[-1] == "p" and fetcher.order.count("p") == 2  # retried after the others
    assert clock.slept >= 39.5  # it waited for the pause on the clock, holding no worker


def test_a_host_that_stays_paused_fails_the_scene_after_a_few_waits(tmp_path):
    fetcher = PausedHostFetcher(pauses=100)
    summary = download_all(scenes_of("p", fetcher=fetcher, provider="slow"), str(tmp_path),
                           clock=FakeClock(), skip_error=True)
    assert [f.scene_id for f in summary.failures] == ["p"]
    assert isinstance(summary.failures[0].error, HostPaused)
    assert fetcher.order.count("p") == 4  # the first try and three waits
