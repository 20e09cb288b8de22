"""The schema revision check reads the migration scripts without Alembic, and agrees with it."""

import subprocess
import sys

from alembic.script import ScriptDirectory

from eoharvest.adapters.catalog import migrate, open_catalog, revisions


def test_the_known_revisions_and_the_head_are_alembics():
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert revisions.head_revision() == script.get_current_head()
    assert revisions.known_revisions() == {rev.revision: rev.down_revision for rev in script.walk_revisions()}


def test_opening_a_current_catalog_does_not_import_alembic(tmp_path):
    path = tmp_path / "c.db"
    open_catalog(path).close()  # created and migrated: Alembic runs here
    code = (
        "import sys; from eoharvest.adapters.catalog import open_catalog\n"
        f"open_catalog({str(path)!r}).close(); open_catalog({str(path)!r}, read_only=True).close()\n"
        "print('alembic' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
