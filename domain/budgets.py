"""Provider budgets: what a provider grants one account, named so every process can share it.

A budget is identified by a :class:`BudgetKey`: the provider, the account (a digest, never the
credential itself) and the kind of budget. Two accounts of one provider have two budgets; the
same account used by several processes (or daemons on several machines sharing one PostgreSQL
catalog) has one. The ``ProviderBudgets`` port (domain/ports.py) holds and paces them.

| provider | kind | limit | where it is taken |
|---|---|---|---|
| copernicus | ``downloads`` | 4 concurrent downloads per account | around each product's transfer |
| usgs | ``requests`` | 1 M2M request in flight per account | around each M2M call |
| usgs | ``orders`` | 2 order calls a second | before each order API call |
| planet | ``activations`` | 5 activation requests a second per API key | before each activation |
| planet | ``orders`` | 5 order calls a second | before each order API call |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: Concurrent transfers of one account (slots).
DOWNLOADS = "downloads"
#: Requests in flight of one account (a slot limit of 1 is a mutex).
REQUESTS = "requests"
#: Calls to a provider's order API (a rate).
ORDERS = "orders"
#: Asset activation requests (a rate).
ACTIVATIONS = "activations"

_SALT = b"eoharvest provider budget\0"


@dataclass(frozen=True)
class BudgetKey:
    """One budget of one provider account. ``account`` is :func:`account_digest` of the
    account's name ("" without credentials: everyone without an account shares one budget)."""

    provider: str
    account: str
    kind: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.account or 'anonymous'}/{self.kind}"


def account_digest(identity: str | None) -> str:
    """A short, salted SHA-256 digest naming an account in budgets (and thus in the catalog's
    lock table), so neither a username nor a key is ever stored or shown. ``identity`` is the
    username, or for providers whose accounts are only a key (Planet) the key: 64 bits of a
    salted digest of a high-entropy key do not give it away."""
    if not identity:
        return ""
    return hashlib.sha256(_SALT + identity.encode("utf-8")).hexdigest()[:16]


__all__ = ["ACTIVATIONS", "DOWNLOADS", "ORDERS", "REQUESTS", "BudgetKey", "account_digest"]
