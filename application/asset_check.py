"""Asset names asked for (``--assets``) checked before anything is downloaded.

A mistyped name used to surface once per scene, after the search, as a provider error (exit 4).
Now a provider that delivers whole products refuses ``assets`` before the search, and the names
are checked against the scenes at hand (the first search page, or the catalogued scenes about
to be downloaded): a name none of them offers is an InputError listing the names they do offer.
A name that some scenes lack is still reported per scene, as before.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from eoharvest.domain.errors import InputError
from eoharvest.domain.models import Scene
from eoharvest.domain.ports import AssetListing, SceneSource

#: At most this many offered names are listed in the message.
SHOWN = 40


def check_asset_support(source: SceneSource, wanted: Sequence[str] | None) -> None:
    """InputError if ``wanted`` names assets but ``source`` only delivers whole products."""
    if wanted and not source.capabilities.asset_selection:
        raise InputError(
            f"{source.name} delivers whole products; asset selection ({', '.join(wanted)}) is not supported",
            hint="leave out --assets for this provider",
        )


def check_asset_names(source: SceneSource, wanted: Sequence[str] | None, scenes: Iterable[Scene]) -> None:
    """InputError (before any download) if a name in ``wanted`` is offered by none of ``scenes``
    (compared without case, as downloads do). Sources that cannot list a scene's assets
    without a request are not checked here."""
    check_asset_support(source, wanted)
    if not wanted or not isinstance(source, AssetListing):
        return
    offered: dict[str, str] = {}
    count = 0
    for scene in scenes:
        count += 1
        for name in source.asset_names(scene):
            offered.setdefault(name.lower(), name)
    if not offered:
        return  # nothing to compare with (e.g. records without assets): each scene will say
    unknown = [name for name in wanted if name.lower() not in offered]
    if unknown:
        names = sorted(offered.values(), key=str.lower)
        listed = ", ".join(names[:SHOWN]) + (f", ... ({len(names)} in all)" if len(names) > SHOWN else "")
        raise InputError(
            f"no asset named {', '.join(repr(n) for n in unknown)} in the {count} {source.name} scene(s) checked",
            hint=f"check --assets; these scenes offer: {listed}",
        )
