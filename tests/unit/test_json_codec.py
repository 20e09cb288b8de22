"""The fast JSON codec gives the standard library's answers, including where orjson differs."""

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eoharvest.adapters.json_codec import dumps_compact, loads

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_decoding_and_encoding_agree_with_the_json_module(value):
    text = json.dumps(value)
    assert loads(text.encode()) == json.loads(text)
    assert json.loads(dumps_compact(value)) == value


@pytest.mark.parametrize("text", [b'{"a": NaN}', b'{"a": -Infinity}', b"[123456789012345678901234567890]",
                                  b"[-98765432109876543210]", b"1E400", "[123456789012345678901]"])
def test_input_orjson_refuses_is_decoded_like_the_json_module(text):
    decoded, expected = loads(text), json.loads(text)
    assert repr(decoded) == repr(expected)


def test_malformed_input_raises_the_json_modules_error():
    with pytest.raises(json.JSONDecodeError):
        loads(b'{"a": ')


def test_values_orjson_would_change_are_encoded_like_the_json_module():
    @dataclass
    class Point:
        x: int

    value = {"nan": math.nan, "inf": -math.inf, "big": 2**70, "when": datetime(2024, 6, 4, tzinfo=timezone.utc),
             "point": Point(1), "text": "Zürich/東京"}
    expected = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    assert dumps_compact(value) == expected
    assert dumps_compact({"when": value["when"]}) == '{"when":"2024-06-04 00:00:00+00:00"}'
    assert dumps_compact({"point": Point(2)}) == '{"point":"%s"}' % str(Point(2))


class _Key(str):
    pass


@pytest.mark.parametrize("value", [{1: "a", 2.5: [1]}, {True: 1, False: {3: None}}, {"a": {None: 1}},
                                   [{"x": 1}, {7: {"y": 2**70}}], {_Key("k"): 1}])
def test_keys_that_are_not_strings_are_encoded_like_the_json_module(value):
    # orjson refuses them unless asked (which costs every dict): the codec retries, same text.
    assert dumps_compact(value) == json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
