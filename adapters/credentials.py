"""The CredentialsProvider adapter: explicit arguments, environment, netrc, then keyring.

Every secret found is registered with :data:`SECRETS` so it is masked wherever it shows up.
Netrc files are checked for owner and mode by us, because Python's ``netrc`` module only does
so for the default ``~/.netrc`` and never for ``$NETRC``.
"""

from __future__ import annotations

import importlib
import logging
import netrc
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from eoharvest.domain.errors import AuthError
from eoharvest.domain.ports import Credentials
from eoharvest.domain.redaction import SECRETS

log = logging.getLogger("eoharvest.credentials")

KEYRING_SERVICE_PREFIX = "eoharvest-"


@dataclass(frozen=True)
class ProviderKeys:
    """Where one provider's credentials may be found: env var names and the netrc machine."""

    username_env: str | None
    secret_env: str
    host: str | None = None


def _default_keys(provider: str) -> ProviderKeys:
    prefix = f"EOHARVEST_{provider.upper().replace('-', '_')}"
    if provider == "planet":
        return ProviderKeys(None, f"{prefix}_API_KEY")
    return ProviderKeys(f"{prefix}_USERNAME", f"{prefix}_PASSWORD")


class LayeredCredentials:
    """Looks up credentials in order: explicit arguments, environment variables, the netrc
    entry for the provider's host, and keyring (only when the package is importable).

    ``explicit`` maps a provider to the Credentials given as arguments; ``hosts`` maps a provider
    to its netrc machine name (the provider table's ``netrc_hosts``); ``env_aliases`` maps a
    provider to further ``(username variable or None, secret variable)`` pairs tried after its
    ``EOHARVEST_<PROVIDER>_*`` ones (the table's ``env_aliases``, e.g. ``EARTHDATA_USERNAME``/
    ``EARTHDATA_PASSWORD``; a pair without a username variable gives a token alone);
    ``keyring_module`` replaces the ``keyring`` package (tests pass a fake; ``False`` disables keyring).
    """

    def __init__(
        self,
        *,
        explicit: Mapping[str, Credentials] | None = None,
        environ: Mapping[str, str] | None = None,
        hosts: Mapping[str, str] | None = None,
        home: Path | None = None,
        keyring_module: Any = None,
        env_aliases: Mapping[str, Sequence[tuple[str | None, str]]] | None = None,
    ) -> None:
        self.explicit = dict(explicit or {})
        self.environ = os.environ if environ is None else environ
        self.hosts = dict(hosts or {})
        self.env_aliases = {k: tuple(v) for k, v in (env_aliases or {}).items()}
        self.home = home
        self._keyring = _import_keyring() if keyring_module is None else keyring_module or None

    # -- CredentialsProvider ----------------------------------------------------------------
    def get(self, provider: str) -> Credentials | None:
        """The first complete credentials found, or None. Raises AuthError for an unsafe netrc."""
        for lookup in (self._explicit, self._env, self._netrc, self._keyring_lookup):
            found = lookup(provider)
            if found is not None and found.secret:
                SECRETS.add(found.secret)
                log.info("credentials for %s from %s", provider, found.source)
                return found
        return None

    def require(self, provider: str) -> Credentials:
        """Like :meth:`get`, but a missing entry is an AuthError naming every place looked in."""
        found = self.get(provider)
        if found is None:
            raise AuthError(
                f"no credentials for {provider}: looked in {'; '.join(self.searched(provider))}",
                hint=f"set {self._keys(provider).secret_env} or add a netrc entry",
            )
        return found

    def searched(self, provider: str) -> Sequence[str]:
        places = ["arguments"]
        names = [n for pair in self._env_pairs(provider) for n in pair if n]
        places.append(f"environment variables {', '.join(names)}")
        host = self.hosts.get(provider)
        if host:
            places.append(f"netrc {self._netrc_path()} (machine {host})")
        suffix = "" if self._keyring is not None else " (keyring not installed)"
        places.append(f"keyring service {KEYRING_SERVICE_PREFIX}{provider}{suffix}")
        return places

    # -- the sources --------------------------------------------------------------------------
    def _keys(self, provider: str) -> ProviderKeys:
        keys = _default_keys(provider)
        return ProviderKeys(keys.username_env, keys.secret_env, self.hosts.get(provider))

    def _explicit(self, provider: str) -> Credentials | None:
        given = self.explicit.get(provider)
        if given is None:
            return None
        return Credentials(given.username, given.secret, given.source or "arguments")

    def _env_pairs(self, provider: str) -> list[tuple[str | None, str]]:
        keys = self._keys(provider)
        return [(keys.username_env, keys.secret_env), *self.env_aliases.get(provider, ())]

    def _env(self, provider: str) -> Credentials | None:
        for username_env, secret_env in self._env_pairs(provider):
            secret = self.environ.get(secret_env)
            username = self.environ.get(username_env) if username_env else None
            if secret and (username or not username_env):
                return Credentials(username, secret, f"environment ({secret_env})")
        return None

    def _netrc_path(self) -> Path:
        explicit = self.environ.get("NETRC")
        if explicit:
            return Path(explicit).expanduser()
        return (self.home or Path.home()) / ".netrc"

    def _netrc(self, provider: str) -> Credentials | None:
        host = self.hosts.get(provider)
        path = self._netrc_path()
        if not host or not path.is_file():
            return None
        check_private_file(path)
        try:
            entries = netrc.netrc(str(path))
        except (netrc.NetrcParseError, OSError, UnicodeDecodeError) as exc:
            # The parser's message can quote the offending token, which may be a password.
            line = getattr(exc, "lineno", None)
            raise AuthError(
                f"cannot read {path}" + (f" (line {line})" if line else ""),
                hint="check the file's syntax: machine <host> login <user> password <secret>",
            ) from None
        # Only an explicit machine entry: a 'default' entry is meant for any host, not for us.
        entry = entries.hosts.get(host)
        if entry is None or not entry[2]:
            return None
        return Credentials(entry[0] or None, entry[2], f"netrc {path}")

    def _keyring_lookup(self, provider: str) -> Credentials | None:
        if self._keyring is None:
            return None
        service = f"{KEYRING_SERVICE_PREFIX}{provider}"
        username = self.explicit[provider].username if provider in self.explicit else None
        try:
            found = self._keyring.get_credential(service, username)
        except Exception as exc:  # noqa: BLE001 - no backend (headless daemon) is not an error
            log.debug("keyring unavailable for %s: %s", service, type(exc).__name__)
            return None
        if found is None or not getattr(found, "password", None):
            return None
        return Credentials(getattr(found, "username", None) or username, found.password, f"keyring {service}")


def check_private_file(path: Path) -> None:
    """Refuse a secrets file owned by someone else or readable by group/others."""
    info = path.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise AuthError(
            f"{path} is owned by uid {info.st_uid}, not by you (uid {os.getuid()})",
            hint=f"use your own file: cp {path} ~/.netrc-eoharvest && chmod 600 ~/.netrc-eoharvest",
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise AuthError(
            f"{path}: permissions too open ({mode:04o}), run chmod 600 {path}",
            hint="a credentials file must be readable by its owner only",
        )


def _import_keyring() -> Any:
    try:
        return importlib.import_module("keyring")
    except Exception:  # noqa: BLE001 - optional dependency; a broken install counts as absent
        return None
