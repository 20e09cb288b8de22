"""The file list of a Landsat Collection 2 product, from its ``*_MTL.txt`` (ODL) or
``*_MTL.json``: the ``FILE_NAME_*`` entries of the ``PRODUCT_CONTENTS`` group. A USGS bundle
(``.tar``) must hold every file its MTL names; a cut or partial bundle is refused by name."""

from __future__ import annotations

import json
import re
from typing import Any

MTL_MEMBER = re.compile(r"(?:^|/)L[COTEM]0\d_[A-Z0-9]{4}_\d{6}_\d{8}_(?:\d{8}_)?\d{2}_(?:T1|T2|RT)_MTL\.(?:txt|json)$")
_ODL_FILE = re.compile(r'^\s*FILE_NAME_[A-Z0-9_]+\s*=\s*"([^"]+)"\s*$', re.MULTILINE)


def mtl_file_names(name: str, data: bytes) -> list[str]:
    """The file names the MTL member ``name`` lists (empty when it lists none or is unreadable:
    the archive's own checks still apply)."""
    text = data.decode("utf-8", "replace")
    if name.endswith(".json"):
        try:
            document: Any = json.loads(text)
        except ValueError:
            return []
        contents = document.get("LANDSAT_METADATA_FILE", {}).get("PRODUCT_CONTENTS", {}) if isinstance(document, dict) else {}
        if not isinstance(contents, dict):
            return []
        return [str(v) for k, v in contents.items() if k.startswith("FILE_NAME_") and isinstance(v, str) and v]
    group = re.search(r"GROUP\s*=\s*PRODUCT_CONTENTS(.*?)END_GROUP\s*=\s*PRODUCT_CONTENTS", text, re.DOTALL)
    return _ODL_FILE.findall(group.group(1)) if group else []
