"""docs/testing.md lists every reliability-plan row that a test names."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"\b([TB])-(\d{2})\b|\btest_(t)(\d{2})_")


def rows_in(text):
    found = set()
    for match in ROW.finditer(text):
        letter = (match.group(1) or match.group(3)).upper()
        found.add(f"{letter}-{match.group(2) or match.group(4)}")
    return found


def documented(text):
    # Only the list lines count; the introduction names the plan's whole ranges.
    text = "\n".join(line for line in text.splitlines() if line.startswith("- "))
    rows = rows_in(text)
    for first, last in re.findall(r"\b([TB]-\d{2})\.\.([TB]-\d{2})\b", text):
        for n in range(int(first[2:]), int(last[2:]) + 1):
            rows.add(f"{first[0]}-{n:02d}")
    return rows


def test_every_row_named_by_a_test_is_in_the_testing_doc():
    named = set()
    for path in (ROOT / "tests").rglob("*.py"):
        named |= rows_in(path.read_text(encoding="utf-8"))
    doc = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    assert named, "the scan found no row names at all"
    assert sorted(named - documented(doc)) == []
