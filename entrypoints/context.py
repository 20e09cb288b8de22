"""The object every CLI command receives as ``ctx.obj``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from eoharvest.application.settings import Settings
from eoharvest.domain.ports import CatalogRepository
from eoharvest.entrypoints.bootstrap import Services, build
from eoharvest.entrypoints.config import load_settings


@dataclass
class AppContext:
    """Settings are loaded once per invocation; services are built on first use."""

    overrides: Mapping[str, Any] = field(default_factory=dict)
    debug: bool = False
    config_file: str | None = None
    _settings: Settings | None = None
    _services: Services | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.overrides, config_file=self.config_file)
        return self._settings

    def services(self) -> Services:
        if self._services is None:
            self._services = build(self.settings)
        return self._services

    def open_catalog(self, *, read_only: bool = False) -> CatalogRepository:
        """The catalog repository for ``settings.catalog_path`` (see ``Services.catalog``)."""
        return self.services().catalog(read_only=read_only)

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None
