"""JsonRecord: a JSON object kept as its bytes reads like the dict the json module would give."""

import json
import pickle

import pytest

from eoharvest.adapters.json_record import JsonRecord, plain

TEXT = b'{ "id" : "a", "n": 123456789012345678901234567890, "x": {"y": [1, 2.5, null]}, "t": "\\u00e9" }'


def test_it_reads_as_the_json_module_reads_the_bytes():
    record = JsonRecord(TEXT)
    expected = json.loads(TEXT)
    assert dict(record) == expected and record == expected and len(record) == len(expected)
    assert record["x"]["y"] == [1, 2.5, None] and record.get("missing", 7) == 7 and "t" in record
    assert plain(record) == expected and type(plain(record)) is dict
    assert pickle.loads(pickle.dumps(record)) == expected and pickle.loads(pickle.dumps(record)).data == TEXT


def test_known_members_are_answered_without_decoding_and_known_absent_ones_are_absent(monkeypatch):
    record = JsonRecord(TEXT, {"id": "a"}, frozenset({"id", "end_datetime"}))
    monkeypatch.setattr(JsonRecord, "decoded", lambda self: pytest.fail("decoded"))
    assert record["id"] == "a" and record.get("end_datetime", "none") == "none"
    assert "end_datetime" not in record and bool(record)
    with pytest.raises(KeyError):
        record["end_datetime"]


@pytest.mark.parametrize("text, truth", [(b"{}", False), (b" { \n } ", False), (b'{"a": 1}', True)])
def test_an_empty_object_is_false_without_being_decoded(text, truth):
    assert bool(JsonRecord(text)) is truth


def test_a_record_is_read_only():
    record = JsonRecord(TEXT)
    with pytest.raises(TypeError):
        record["id"] = "b"  # type: ignore[index]
    assert record != {"id": "a"} and record != JsonRecord(b'{"id": "b"}')
