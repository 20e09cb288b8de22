"""`catalog stats` as plain SQL on a DB-API cursor: the repository runs it on its connection,
and a read-only summary runs it without SpatiaLite or SQLAlchemy (no spatial function is
involved), which is most of what the command costs on a small catalog. bench/cli.py runs the
same statements in the ``sqlite3`` shell as its baseline.
"""

from __future__ import annotations

from typing import Any

from eoharvest.domain.catalog_query import CatalogStats
from eoharvest.domain.download_states import AVAILABLE, NONE, PROGRESS_ORDER

# Constants of the code (never user values) written as SQL literals; checked to be plain words.
for _word in (*PROGRESS_ORDER, NONE):
    assert _word.isidentifier() and _word.islower(), _word
_RANK = " ".join(f"WHEN '{state}' THEN {i}" for i, state in enumerate(PROGRESS_ORDER))

#: name -> statement, in the order :func:`read_stats` runs them.
STATEMENTS = {
    "totals": "SELECT count(*), count(DISTINCT product_key) FROM scenes",
    "per_platform": "SELECT platform, count(*) FROM scenes GROUP BY platform",
    "per_year": (
        "SELECT CAST(strftime('%Y', acq_start) AS INTEGER) AS year, count(*) FROM scenes "
        "WHERE acq_start IS NOT NULL GROUP BY year"
    ),
    # A scene's state is its most advanced file state; scenes without such a file are 'none'
    # (the total less these), so only the files table is grouped, not every scene.
    "per_state": (
        f"SELECT best, count(*) FROM (SELECT min(CASE state {_RANK} END) AS best FROM files "
        f"WHERE state != '{NONE}' GROUP BY scene_pk) GROUP BY best"
    ),
    "archive": f"SELECT coalesce(sum(size), 0), count(*) FROM files WHERE state = '{AVAILABLE}'",
}


def read_stats(cursor: Any) -> CatalogStats:
    """Run :data:`STATEMENTS` on ``cursor`` (one read transaction is the caller's choice)."""
    total, products = cursor.execute(STATEMENTS["totals"]).fetchone()
    per_platform = cursor.execute(STATEMENTS["per_platform"]).fetchall()
    per_year = cursor.execute(STATEMENTS["per_year"]).fetchall()
    per_state = {PROGRESS_ORDER[rank]: n for rank, n in cursor.execute(STATEMENTS["per_state"]) if rank is not None}
    size, available = cursor.execute(STATEMENTS["archive"]).fetchone()
    without_files = total - sum(per_state.values())
    if without_files:
        per_state[NONE] = without_files
    return CatalogStats(
        scenes=total,
        products=products,
        per_platform=dict(sorted((p, n) for p, n in per_platform)),
        per_year={int(y): n for y, n in sorted(per_year) if y is not None},
        per_state=dict(sorted(per_state.items())),
        archive_bytes=int(size),
        files_available=available,
    )
