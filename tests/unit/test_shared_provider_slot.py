"""``shared_provider_slot``: a daemon worker's provider slot is this daemon's own, then the
provider account's download budget (shared by every daemon on PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import ConcurrencyGauge

from eoharvest.application.queue_workers import local_provider_slots
from eoharvest.application.settings import DownloadSettings, Settings
from eoharvest.domain.errors import DownloadCancelled
from eoharvest.entrypoints.bootstrap import build
from eoharvest.entrypoints.daemon_queue import shared_provider_slot

WORKERS = 6


def peak_holders(settings: Settings, provider: str, *, local_limit: int = WORKERS) -> int:
    """The most workers inside the slot at once when ``WORKERS`` threads take it together."""
    gauge = ConcurrencyGauge()
    with build(settings) as services:
        slot = shared_provider_slot(services, local_provider_slots({}, local_limit))

        def work() -> None:
            with slot(provider, lambda: False), gauge:
                time.sleep(0.05)

        threads = [threading.Thread(target=work) for _ in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
    return gauge.peak


def test_the_providers_budget_caps_the_workers_beyond_the_daemons_own_slots(tmp_path):
    plain = Settings(catalog_path=tmp_path / "catalog.db")
    budgeted = Settings(catalog_path=tmp_path / "catalog.db", download=DownloadSettings(provider_budgets={"links": 2}))
    assert peak_holders(plain, "links") == WORKERS  # no budget: only the daemon's own slots
    assert peak_holders(budgeted, "links") == 2
    assert peak_holders(budgeted, "links", local_limit=1) == 1  # the daemon's own cap still holds
    assert peak_holders(Settings(catalog_path=tmp_path / "catalog.db"), "copernicus") == 4  # the table's


def test_a_worker_stopped_while_waiting_for_the_budget_gives_back_its_own_slot(tmp_path):
    settings = Settings(catalog_path=tmp_path / "catalog.db", download=DownloadSettings(provider_budgets={"links": 1}))
    with build(settings) as services:
        local = local_provider_slots({}, 2)
        slot = shared_provider_slot(services, local)
        budget = services.download_budget("links")
        assert budget is not None
        with budget.hold():  # another daemon holds the account's only slot
            deadline = time.monotonic() + 0.3
            with pytest.raises(DownloadCancelled):
                with slot("links", lambda: time.monotonic() > deadline):
                    pytest.fail("entered the slot past the budget")
        bounded = time.monotonic() + 2.0
        with local("links", lambda: time.monotonic() > bounded), local("links", lambda: time.monotonic() > bounded):
            pass  # both of this daemon's own slots are free again (else: DownloadCancelled)
        with slot("links", lambda: False):
            pass
