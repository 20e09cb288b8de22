"""The duplicate check's compact key set answers as a Python set does, at ~20 bytes per key."""

from __future__ import annotations

import hashlib
import random
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eoharvest.application import seen_keys
from eoharvest.application.seen_keys import SeenKeys


@given(st.lists(st.binary(min_size=4, max_size=4), max_size=400))
def test_it_answers_as_a_set(keys):
    compact, plain = SeenKeys(4), set()
    for key in keys:
        assert compact.add(key) == (key not in plain)
        plain.add(key)
        assert key in compact and len(compact) == len(plain)


def test_keys_survive_many_merges(monkeypatch):
    monkeypatch.setattr(seen_keys, "_MIN_PENDING", 7)
    rng = random.Random(5)
    keys = [rng.randbytes(16) for _ in range(3000)]
    found = SeenKeys(16)
    assert all(found.add(k) for k in keys)
    assert not any(found.add(k) for k in rng.sample(keys, 500))  # every key found again, merged or pending
    assert all(rng.randbytes(16) not in found for _ in range(500))
    assert len(found) == 3000


def test_a_key_of_another_size_is_refused():
    with pytest.raises(ValueError, match="3 bytes"):
        SeenKeys(16).add(b"abc")


def test_100k_digests_take_under_a_third_of_a_sets_memory():
    def digest(i: int) -> bytes:
        return hashlib.blake2b(str(i).encode(), digest_size=16).digest()

    def held_by(container) -> int:
        """Bytes still allocated once ``container`` holds 100k new digests."""
        tracemalloc.start()
        for i in range(100_000):
            container.add(digest(i))
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return size

    compact, plain = held_by(SeenKeys(16)), held_by(set())
    assert compact < 32 * 100_000  # 16 bytes per key sorted, the pending set an eighth of them
    assert compact < plain / 3
