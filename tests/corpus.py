"""Where the recorded provider responses live (read in place, never copied into the repo)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("EOHARVEST_CORPUS", ROOT.parent / "shared" / "corpus")).resolve()


def corpus_files(folder: str, suffix: str = ".json") -> list[Path]:
    directory = CORPUS / folder
    if not directory.is_dir():
        raise FileNotFoundError(f"recorded responses not found at {directory}; set EOHARVEST_CORPUS")
    return sorted(p for p in directory.iterdir() if p.suffix == suffix)


def load(folder: str, name: str) -> Any:
    return json.loads((CORPUS / folder / name).read_text(encoding="utf-8"))


def load_text(folder: str, name: str) -> str:
    return (CORPUS / folder / name).read_text(encoding="utf-8")
