import pytest

from eoharvest.domain.redaction import SECRETS, escape_control, redact

CANARY = "CANARY-PW-7f3a9"


@pytest.fixture(autouse=True)
def _clean_registry():
    SECRETS.clear()
    yield
    SECRETS.clear()


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {CANARY}",
        f"{{'Authorization': 'Bearer {CANARY}'}}",
        f"X-Auth-Token: {CANARY}",
        f"https://host/x?token={CANARY}&a=1",
        f"grant_type=password&username=u&password={CANARY}",
        f'{{"access_token": "{CANARY}", "expires_in": 600}}',
        f"https://user:{CANARY}@example.com/path",
        f"api-key={CANARY}",
        f"[(b'Content-Length', b'0'), (b'Set-Cookie', b'nasa_session={CANARY}; Path=/; HttpOnly')]",
        f"(b'Authorization', b'Bearer {CANARY}')",
        f"Location: https://daac.example/login?code={CANARY}&state=%2Ffile.tif",
    ],
)
def test_credential_shaped_text_is_masked(text):
    assert CANARY not in redact(text)


def test_an_exit_code_or_a_product_code_is_not_taken_for_an_oauth_code():
    assert redact("exit code=3; product code: D217") == "exit code=3; product code: D217"


def test_registered_secrets_are_masked_anywhere():
    SECRETS.add(CANARY)
    assert redact(f"login failed for pw {CANARY}!") == "login failed for pw ***!"


def test_jwts_are_masked():
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert jwt not in redact(f"token {jwt} expired")


def test_ordinary_text_is_left_alone():
    text = "downloaded S2A_MSIL2A_20190101T000001 (1.2 GB) to /data"
    assert redact(text) == text


def test_control_characters_cannot_forge_log_lines():  # B-49
    assert escape_control("name\nFAKE LOG LINE\x1b[31m") == "name\\nFAKE LOG LINE\\x1b[31m"
