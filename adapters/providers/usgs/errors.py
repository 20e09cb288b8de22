"""M2M answers: every one is an envelope ``{requestId, version, sessionId, data, errorCode,
errorMessage}``, sent with HTTP 200 even when it reports an error; ``errorCode`` decides."""

from __future__ import annotations

from typing import Any, Mapping

from eoharvest.domain.errors import AuthError, ProviderResponseError
from eoharvest.domain.redaction import redact

TOKEN_HELP = (
    "create an M2M application token in your USGS ERS profile (https://ers.cr.usgs.gov/ > "
    "Profile > Application Tokens, scope M2M) and give it with your username: "
    "UsgsOt(username, token) or EOHARVEST_USGS_USERNAME / EOHARVEST_USGS_PASSWORD"
)
ACCESS_HELP = (
    "the USGS account has no Machine-to-Machine access: request it in your ERS profile "
    "(https://ers.cr.usgs.gov/profile/access, 'Access Request'); approval can take a few days"
)
#: the API key is refused: log in again (once) and repeat the call
KEY_REFUSED = frozenset({"AUTH_KEY_INVALID", "AUTH_EXPIRED"})
#: one request in flight per account: wait and repeat
BUSY = frozenset({"RATE_LIMIT_USER", "RATE_LIMIT"})
#: too many download requests (15 minutes) or pending ones: an order quota, not an error
DOWNLOAD_QUOTA = "RATE_LIMIT_USER_DL"


class M2mError(ProviderResponseError):
    """An envelope with an ``errorCode``; ``code`` is that code."""

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class M2mAuthError(AuthError):
    """Login refused, the account lacks access, or the API key is no longer valid."""

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


def envelope_data(body: Any, endpoint: str) -> Any:
    """The ``data`` of a successful envelope; an error envelope raises its mapped error."""
    if not isinstance(body, Mapping) or "errorCode" not in body or "data" not in body:
        raise ProviderResponseError(
            f"usgs: the answer to {endpoint} is not an M2M envelope (got {type(body).__name__})",
            hint="check EOHARVEST_USGS_M2M_URL: it must end in /api/api/json/stable",
        )
    code = body.get("errorCode")
    if code is None:
        return body.get("data")
    raise error_for(str(code), str(body.get("errorMessage") or "no message"), endpoint)


def error_for(code: str, message: str, endpoint: str) -> Exception:
    text = f"usgs: {endpoint} failed: {code}: {redact(message)[:300]}"
    if endpoint == "login-token" and code == "AUTH_INVALID":
        return M2mAuthError(code, text + " (username or application token refused)", hint=TOKEN_HELP)
    if code == "UNAUTHORIZED_USER":
        return M2mAuthError(code, text, hint=ACCESS_HELP)
    if endpoint == "login" and code == "NOT_FOUND":
        return M2mAuthError(code, text + " (password login was retired by USGS in 2025)", hint=TOKEN_HELP)
    if code.startswith("AUTH_"):
        return M2mAuthError(code, text, hint="log in again with a valid application token; " + TOKEN_HELP)
    if code == "DATASET_INVALID":
        return M2mError(code, text, hint="the dataset name is unknown to this M2M server")
    if code == DOWNLOAD_QUOTA:
        return M2mError(code, text, hint="USGS allows 15,000 download requests per 15 minutes and 20,000 pending; wait")
    if code in BUSY:
        return M2mError(code, text, hint="another program is using this USGS account right now; try again later")
    return M2mError(code, text, hint="the USGS M2M service refused the request")
