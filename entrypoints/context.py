"""The object every CLI command receives as ``ctx.obj``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eoharvest.entrypoints.config import load_settings
from eoharvest.entrypoints.logs import configure_logging

if TYPE_CHECKING:  # the composition root imports every adapter: only load it when a command needs it
    from eoharvest.application.settings import Settings
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
    #: --log-level was given: the -v/-q shortcuts do not override it
    explicit_level: bool = False
    _settings: Settings | None = None
    _services: Services | None = None
    _readers: list[Any] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.overrides, config_file=self.config_file)
            if self.configure_logs:
                configure_logging(self._settings.log_level, json_lines=self._settings.log_json)
        return self._settings

    def apply_global_option(self, name: str, value: Any) -> None:
        """A global option given after the subcommand (``--catalog``, ``--config``,
        ``--log-level``, ``-v``/``-q``, ``--log-json``, ``--debug``); it wins over one given before it."""
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
                self.explicit_level = True
        elif name in ("verbose", "quiet"):
            # Shortcuts for --log-level; an explicit --log-level (or --debug) wins.
            if not self.debug and not self.explicit_level:
                from eoharvest.entrypoints.cli_common import verbosity_level

                level = verbosity_level(value if name == "verbose" else 0, name == "quiet")
                self.overrides["log_level"] = level
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

    def open_catalog(self, *, read_only: bool = False, memory_map: bool = False) -> CatalogRepository:
        """The catalog repository for ``settings.catalog_path`` (see ``Services.catalog``)."""
        return self.services().catalog(read_only=read_only, memory_map=memory_map)

    def catalog_reader(self, *, spatial: bool = True) -> Any:
        """What `catalog stats` and the GeoJSON queries read: unless services are built already
        (then their read-only catalog), a lean reader of the catalog file
        (``adapters.catalog.open_reader``), since the repository's libraries are most of those
        commands' time. It loads SpatiaLite before pyproj/pyogrio: this process parsed its AOI
        before and reads nothing else after. Both have ``geojson_features``, ``stats`` and ``close``."""
        if self._services is not None:
            return self._services.catalog(read_only=True)
        from eoharvest.adapters.catalog import open_reader

        reader = open_reader(self.settings.catalog_path, spatial=spatial, preload=False)
        self._readers.append(reader)
        return reader

    def vector_reader(self) -> Any:
        """The services' vector file reader, or (services not built) a new one: reading an AOI
        needs neither the catalog nor the network."""
        if self._services is not None:
            return self._services.vector_reader
        from eoharvest.adapters.vector_files import OgrVectorReader

        return OgrVectorReader()

    def close(self) -> None:
        while self._readers:
            self._readers.pop().close()
        if self._services is not None:
            self._services.close()
            self._services = None
