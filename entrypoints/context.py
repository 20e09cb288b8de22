"""The object every CLI command receives as ``ctx.obj``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eoharvest.entrypoints.config import load_settings
from eoharvest.entrypoints.logs import configure_logging

if TYPE_CHECKING:  # the composition root imports every adapter: only load it when a command needs it
    from eoharvest.application.settings import Settings
    from eoharvest.domain.catalog_query import CatalogStats
    from eoharvest.domain.ports import CatalogRepository
    from eoharvest.entrypoints.bootstrap import Services


@dataclass
class AppContext:
    """Settings are loaded once per invocation, on first use (so global options given after the
    subcommand count too); services are built on first use. With ``configure_logs`` (the CLI),
    loading the settings also sets up logging from them."""

    overrides: dict[str, Any] = field(default_factory=dict)
    debug: bool = False
    config_file: str | None = None
    configure_logs: bool = False
    _settings: Settings | None = None
    _services: Services | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.overrides, config_file=self.config_file)
            if self.configure_logs:
                configure_logging(self._settings.log_level, json_lines=self._settings.log_json)
        return self._settings

    def apply_global_option(self, name: str, value: Any) -> None:
        """A global option given after the subcommand (``--catalog``, ``--config``,
        ``--log-level``, ``--log-json``, ``--debug``); it wins over one given before it."""
        if self._services is not None:
            raise RuntimeError(f"--{name.replace('_', '-')} came after the services were built")
        if name == "debug":
            self.debug = True
            self.overrides["log_level"] = "DEBUG"
        elif name == "config":
            self.config_file = value
        elif name == "catalog":
            self.overrides["catalog_path"] = value
        elif name == "log_level":
            if not self.debug:
                self.overrides["log_level"] = value
        elif name == "log_json":
            self.overrides["log_json"] = True
        else:
            raise ValueError(f"not a global option: {name}")
        self._settings = None  # loaded again, with this value, on first use

    def services(self) -> Services:
        if self._services is None:
            from eoharvest.entrypoints.bootstrap import build

            self._services = build(self.settings)
        return self._services

    def open_catalog(self, *, read_only: bool = False) -> CatalogRepository:
        """The catalog repository for ``settings.catalog_path`` (see ``Services.catalog``)."""
        return self.services().catalog(read_only=read_only)

    def catalog_stats(self) -> CatalogStats:
        """The read-only summary of ``catalog stats``. Unless services are built already, the
        catalog file is read directly (plain sqlite3: neither SpatiaLite nor the services are
        needed for counts, and loading them is most of the command's time)."""
        if self._services is not None:
            return self._services.catalog(read_only=True).stats()
        from eoharvest.adapters.catalog import read_stats

        return read_stats(self.settings.catalog_path)

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None
