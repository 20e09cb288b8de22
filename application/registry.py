"""SensorRegistry: the provider name -> SensorAPI class table behind AggregateSensorAPI."""

from __future__ import annotations

import logging
from typing import Any, Iterator

from eoharvest.application.sensor_api import SensorAPI
from eoharvest.domain.errors import AuthError, InputError

logger = logging.getLogger("eoharvest")


class SensorRegistry:
    """Maps provider names to :class:`SensorAPI` classes, in registration order.

    Each class provides ``create_instance(**kwargs)``, which picks its own credentials out of the
    keyword arguments (``cmr_username``/``cmr_password``, ``usgs_username``/``usgs_password``,
    ``planet_api_key``, ``copernicus_username``/``copernicus_password``, ...) and raises
    :class:`AuthError` (or returns None) when they are missing.
    """

    def __init__(self) -> None:
        self._classes: dict[str, type[SensorAPI]] = {}

    def register(self, cls: type[SensorAPI], name: str | None = None) -> type[SensorAPI]:
        """Register ``cls`` under ``name`` (default: its ``provider_name`` or class name).

        Registering the same class again is a no-op; another class under a taken name is an
        :class:`InputError`. Returns ``cls``.
        """
        key = name or getattr(cls, "provider_name", None) or cls.__name__
        existing = self._classes.get(key)
        if existing is not None and existing is not cls:
            raise InputError(
                f"sensor API name {key!r} is already registered for {existing.__name__}",
                hint="register the new class under another name",
            )
        if not callable(getattr(cls, "create_instance", None)):
            raise InputError(f"{cls.__name__} has no create_instance(**kwargs) classmethod")
        self._classes[key] = cls
        return cls

    def names(self) -> list[str]:
        """The registered provider names, in registration order."""
        return list(self._classes)

    def get(self, name: str) -> type[SensorAPI]:
        """The class registered under ``name`` (case-insensitive); InputError lists the names."""
        for key, cls in self._classes.items():
            if key.lower() == str(name).lower():
                return cls
        raise InputError(
            f"unknown sensor API {name!r}",
            hint=f"registered: {', '.join(self._classes) or 'none'}",
        )

    def known_keywords(self) -> frozenset[str] | None:
        """Every keyword some registered class's ``create_instance`` takes (each class lists its
        own in ``instance_keywords()``), or None when a class does not say."""
        known: set[str] = set()
        for cls in self._classes.values():
            declared = getattr(cls, "instance_keywords", None)
            if not callable(declared):
                return None
            known.update(declared())
        return frozenset(known)

    def items(self) -> list[tuple[str, type[SensorAPI]]]:
        """(name, class) pairs in registration order."""
        return list(self._classes.items())

    def create_instances(self, **kwargs: Any) -> list[SensorAPI]:
        """An instance of every registered class whose ``create_instance(**kwargs)`` succeeds.

        A class whose credentials are missing (it raises :class:`AuthError` or returns None) is
        skipped and logged at debug level; any other error propagates.
        """
        instances: list[SensorAPI] = []
        for name, cls in self._classes.items():
            try:
                instance = cls.create_instance(**kwargs)  # type: ignore[attr-defined]
            except AuthError as exc:
                logger.debug("sensor API %s skipped: %s", name, exc)
                continue
            if instance is None:
                logger.debug("sensor API %s skipped: no credentials", name)
                continue
            instances.append(instance)
        return instances

    def __iter__(self) -> Iterator[type[SensorAPI]]:
        return iter(list(self._classes.values()))

    def __len__(self) -> int:
        return len(self._classes)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k in self._classes)
