"""The shortcuts the STAC item mapper takes per asset give exactly what urllib would."""

import posixpath
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eoharvest.domain.urls import resolve_link, url_basename

ITEM = "https://api.example/v1/collections/c/items/i"


@given(st.sampled_from(["http://", "https://"]), st.text(alphabet="abc.-", min_size=1, max_size=8),
       st.lists(st.text(alphabet="ab%.~_-", max_size=6), max_size=4), st.text(alphabet="ab=&?/#", max_size=8))
def test_url_basename_is_the_last_path_segment_as_urlsplit_sees_it(scheme, host, segments, tail):
    url = scheme + host + ("/" + "/".join(segments) if segments else "") + tail
    assert url_basename(url) == posixpath.basename(urlsplit(url).path)


@pytest.mark.parametrize("href", ["https://cdn.example/a/b.tif", "http://h/x/../y.tif", "https://h/./z", "https://h/.well/a",
                                  "../c.tif", "d.tif?sig=1", "//other.example/e.tif"])
def test_resolve_link_agrees_with_urljoin(href):
    assert resolve_link(ITEM, href) == urljoin(ITEM, href)
