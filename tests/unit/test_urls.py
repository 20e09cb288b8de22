import pytest

from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.domain.errors import UnsafeURL
from eoharvest.domain.urls import address_class, check_url_shape, origin_of, resolve_link


def public_resolver(host, port):
    return {"data.example.com": ["93.184.216.34"], "sneaky.example.com": ["10.0.0.5"]}.get(host, [])


@pytest.mark.parametrize(
    "url, words",
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://example.com/x", "scheme 'ftp'"),
        ("https://u:p@example.com/x", "user-info"),
        ("https:///nohost", "no host"),
        ("", "empty"),
    ],
)
def test_forbidden_url_shapes_are_unsafe(url, words):  # B-51
    with pytest.raises(UnsafeURL) as info:
        check_url_shape(url)
    assert words in str(info.value)
    assert info.value.exit_code == 8


def test_userinfo_passwords_do_not_appear_in_the_error():
    with pytest.raises(UnsafeURL) as info:
        check_url_shape("https://user:CANARY-PW-1@example.com/x")
    assert "CANARY-PW-1" not in str(info.value)


@pytest.mark.parametrize(
    "url, kind",
    [
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://127.0.0.1:22/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://sneaky.example.com/", "private"),
    ],
)
def test_a_public_provider_cannot_send_us_to_local_addresses(url, kind):
    guard = UrlGuard(allow_private=False, resolver=public_resolver)
    with pytest.raises(UnsafeURL, match=kind):
        guard.check(url)


def test_a_provider_configured_on_loopback_may_use_loopback_but_never_link_local():
    guard = UrlGuard.for_endpoint("http://127.0.0.1:8080/stac")
    assert guard.allow_private
    guard.check("http://127.0.0.2:9000/file")
    with pytest.raises(UnsafeURL, match="link-local"):
        guard.check("http://169.254.169.254/")


def test_public_targets_pass():
    UrlGuard(resolver=public_resolver).check("https://data.example.com/a.tif")


def test_origins_include_scheme_and_default_port():
    assert origin_of("https://Example.com/x") == ("https", "example.com", 443)
    assert origin_of("http://example.com:8080/") == ("http", "example.com", 8080)
    assert origin_of("https://example.com/") != origin_of("http://example.com/")


def test_relative_hrefs_resolve_against_the_document_url():  # B-52
    assert resolve_link("https://stac.example.com/items/x.json", "../../../etc/passwd") == (
        "https://stac.example.com/etc/passwd"
    )


def test_ipv4_mapped_ipv6_is_classified_by_its_ipv4_address():
    assert address_class("::ffff:169.254.169.254") == "link-local"
