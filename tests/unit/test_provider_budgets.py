"""Provider budgets in one process (application/budgets.py), their keys (domain/budgets.py),
and where the composition root and the use cases take them. The budgets shared by several
processes on PostgreSQL are tested in integration/test_shared_budgets.py."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from fakes import ConcurrencyGauge, FakeClock, FakeFetcher, FakeSceneSource, make_scene

from eoharvest.adapters.catalog.postgis_budget import PostgresBudgets
from eoharvest.application.budgets import DownloadBudget, LocalBudgets
from eoharvest.application.downloading import SourceDownloader, download_all
from eoharvest.application.orders import ProviderPace
from eoharvest.application.settings import Settings
from eoharvest.domain.budgets import DOWNLOADS, ORDERS, BudgetKey, account_digest
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.errors import DownloadCancelled
from eoharvest.entrypoints.bootstrap import build

KEY = BudgetKey("copernicus", account_digest("someone@example.com"), DOWNLOADS)


class RecordingBudgets:
    """A ``ProviderBudgets`` that records what is asked of it."""

    def __init__(self) -> None:
        self.slots: list[tuple[BudgetKey, int]] = []
        self.paces: list[tuple[BudgetKey, float]] = []
        self.holding = 0

    @contextmanager
    def slot(self, key, limit, stopped=None):
        self.slots.append((key, limit))
        self.holding += 1
        try:
            yield
        finally:
            self.holding -= 1

    def pace(self, key, rate, stopped=None):
        self.paces.append((key, rate))

    def close(self):
        pass


def test_an_account_is_named_by_a_salted_digest_never_by_its_name():
    digest = account_digest("someone@example.com")
    assert len(digest) == 16 and "someone" not in digest
    assert digest == account_digest("someone@example.com") != account_digest("other@example.com")
    assert account_digest(None) == account_digest("") == ""
    assert "someone" not in str(KEY) and str(BudgetKey("planet", "", "activations")) == "planet/anonymous/activations"


def test_no_more_than_the_limit_hold_a_slot_at_once():
    budgets, gauge = LocalBudgets(FakeClock()), ConcurrencyGauge()

    def work():
        for _ in range(5):
            with budgets.slot(KEY, 2), gauge:
                time.sleep(0.005)

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert gauge.peak <= 2 and gauge.now == 0


def test_waiting_for_a_slot_ends_when_stopped_and_other_accounts_are_not_held_up():
    budgets = LocalBudgets(FakeClock())
    other = BudgetKey("copernicus", account_digest("other@example.com"), DOWNLOADS)
    with budgets.slot(KEY, 1):
        with budgets.slot(other, 1):
            pass
        with pytest.raises(DownloadCancelled):
            with budgets.slot(KEY, 1, stopped=lambda: True):
                pass
    with budgets.slot(KEY, 1, stopped=lambda: True):  # free again: no wait, no cancel
        pass


def test_calls_are_paced_per_budget_key():
    clock = FakeClock()
    budgets = LocalBudgets(clock)
    released = []
    for _ in range(3):
        budgets.pace(KEY, 5.0)
        released.append(clock.monotonic())
    budgets.pace(BudgetKey("copernicus", "another", DOWNLOADS), 5.0)  # another account: at once
    assert [round(b - a, 6) for a, b in zip(released, released[1:])] == [0.2, 0.2]
    assert clock.monotonic() == released[-1]


def test_order_calls_are_paced_on_the_account_of_their_provider():
    budgets = RecordingBudgets()
    pace = ProviderPace(FakeClock(), budgets, account_of=lambda provider: f"acct-of-{provider}")
    pace.wait("usgs", 2.0)
    pace.wait("planet", None)  # no declared rate: not paced at all
    assert budgets.paces == [(BudgetKey("usgs", "acct-of-usgs", ORDERS), 2.0)]


def test_a_download_holds_one_slot_of_its_accounts_budget_while_it_transfers(tmp_path):
    budgets, fetcher = RecordingBudgets(), FakeFetcher()
    seen_holding = []
    real_fetch = fetcher.fetch

    def fetch(*args, **kwargs):
        seen_holding.append(budgets.holding)
        return real_fetch(*args, **kwargs)

    fetcher.fetch = fetch
    budget = DownloadBudget(budgets, KEY, 4)
    scene = make_scene("S1")
    SourceDownloader(FakeSceneSource(), scene, fetcher, budget=budget).download(str(tmp_path))
    assert budgets.slots == [(KEY, 4)] and seen_holding == [1] and budgets.holding == 0


def test_a_download_waiting_for_a_slot_is_cancelled_without_fetching(tmp_path):
    budgets, fetcher = LocalBudgets(FakeClock()), FakeFetcher()
    source = FakeSceneSource()
    scenes = [make_scene(i).bind_downloader(
        lambda scene, **extra: SourceDownloader(source, scene, fetcher, budget=DownloadBudget(budgets, KEY, 1), **extra)
    ) for i in ("A", "B")]  # fmt: skip
    deadline = time.monotonic() + 0.3
    with budgets.slot(KEY, 1):  # another run of this process holds the account's only slot
        with pytest.raises(DownloadCancelled):
            download_all(scenes, str(tmp_path), clock=FakeClock(), cancel_requested=lambda: time.monotonic() > deadline)
    assert fetcher.calls == []


def test_the_composition_root_picks_the_budgets_by_the_catalogs_kind(tmp_path):
    with build(Settings(catalog_path=tmp_path / "catalog.db")) as services:
        assert isinstance(services.budgets(), LocalBudgets)
        assert services.budgets() is services.budgets()
        assert services.download_budget("earth-search") is None  # no declared cap: no budget
        budget = services.download_budget("copernicus")
        assert budget is not None and (budget.key, budget.limit) == (BudgetKey("copernicus", "", DOWNLOADS), 4)
    # Nothing listens here: a PostgreSQL budget connects on first use, not when it is built.
    url = CatalogUrl("postgresql://nobody@127.0.0.1:9/nothing")
    with build(Settings(catalog_path=url)) as services:
        assert isinstance(services.budgets(), PostgresBudgets)


def test_copernicus_downloads_use_the_budget_of_the_account_found(tmp_path, monkeypatch):
    from eoharvest.adapters.credentials import LayeredCredentials
    from eoharvest.domain.ports import Credentials

    store = LayeredCredentials(explicit={"copernicus": Credentials("someone@example.com", "pw")}, environ={},
                               hosts={}, home=Path(tmp_path), keyring_module=False)  # fmt: skip
    with build(Settings(catalog_path=tmp_path / "catalog.db"), credentials=store) as services:
        services.connect("copernicus")
        budget = services.download_budget("copernicus")
        assert budget is not None and budget.key == KEY
        assert services.account_of("copernicus") == KEY.account
