"""Checksum vocabulary: algorithm names and STAC ``file:checksum`` multihashes."""

from __future__ import annotations

from eoharvest.domain.models import Checksum

# multihash code -> (our algorithm name, digest length in bytes)
_MULTIHASH_CODES: dict[int, tuple[str, int]] = {
    0x11: ("sha1", 20),
    0x12: ("sha256", 32),
    0x13: ("sha512", 64),
    0x14: ("sha3_512", 64),
    0x15: ("sha3_384", 48),
    0x16: ("sha3_256", 32),
    0x17: ("sha3_224", 28),
    0x1E: ("blake3", 32),
    0xD5: ("md5", 16),
}

_ALIASES = {
    "sha-1": "sha1",
    "sha-256": "sha256",
    "sha-512": "sha512",
    "sha3-256": "sha3_256",
    "sha3-512": "sha3_512",
    "md-5": "md5",
}


def normalise_algorithm(name: str) -> str:
    lowered = name.strip().lower()
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    return Checksum.usable(lowered, "1").algorithm  # type: ignore[union-attr]


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(9):
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("varint too long")


def from_multihash(hex_text: str, source: str = "stac:file:checksum") -> Checksum | None:
    """Decode a hex multihash (``1220<sha256 hex>``); None when unknown, junk or malformed."""
    try:
        data = bytes.fromhex(hex_text.strip())
        code, pos = _read_varint(data, 0)
        length, pos = _read_varint(data, pos)
    except ValueError:
        return None
    known = _MULTIHASH_CODES.get(code)
    digest = data[pos:]
    if known is None or len(digest) != length or length != known[1]:
        return None
    return Checksum.usable(known[0], digest.hex(), source)


def from_base64(algorithm: str, b64_text: str, source: str) -> Checksum | None:
    """Decode a base64 digest (Azure blob ``Content-MD5``, S3 checksums)."""
    import base64
    import binascii

    try:
        raw = base64.b64decode(b64_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return Checksum.usable(normalise_algorithm(algorithm), raw.hex(), source)
