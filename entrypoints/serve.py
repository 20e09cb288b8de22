"""`eoharvest serve`: the local catalog as a read-only STAC API (stac-fastapi + uvicorn).

Safe by default: it binds the loopback interface; any other address needs --allow-remote and
a bearer token, read from the EOHARVEST_SERVE_TOKEN environment variable or --token-file (never
from the command line, where other users of the machine could read it), unless --no-auth.
Heavy imports (FastAPI, uvicorn, stac-fastapi) happen when the command runs, not when the CLI
loads.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from pathlib import Path
from typing import Any, Callable

import click

from eoharvest.domain.errors import InputError, UnsupportedEnvironment
from eoharvest.entrypoints.context import AppContext

TOKEN_ENV = "EOHARVEST_SERVE_TOKEN"
MIN_TOKEN_LENGTH = 16
log = logging.getLogger("eoharvest.serve")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(token_file: Path | None, environ: dict[str, str] | None = None) -> str | None:
    """The bearer token from --token-file or EOHARVEST_SERVE_TOKEN (the file wins), or None."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read the token file {str(token_file)!r}: {exc.strerror}") from None
        source = f"the token file {str(token_file)!r}"
    else:
        token = env.get(TOKEN_ENV, "").strip()
        source = TOKEN_ENV
    if not token:
        return None
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise InputError(f"the bearer token in {source} is too short or contains spaces",
                         hint=f"use at least {MIN_TOKEN_LENGTH} characters, e.g. `python3 -c "
                              "'import secrets; print(secrets.token_urlsafe(32))'`")  # fmt: skip
    return token


def check_bind(host: str, allow_remote: bool, token: str | None, no_auth: bool) -> None:
    """Refuse a non-loopback bind without --allow-remote, and a remote one without a token."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise InputError(f"--host {host} would expose the catalog beyond this machine",
                         hint=f"pass --allow-remote and set {TOKEN_ENV} (or --token-file), or keep the default "
                              "127.0.0.1")  # fmt: skip
    if token is None and not no_auth:
        raise InputError(f"serving on {host} needs a bearer token",
                         hint=f"set {TOKEN_ENV} or --token-file (clients send `Authorization: Bearer <token>`), "
                              "or pass --no-auth to serve without one")  # fmt: skip


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback unless --allow-remote).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free port).")
@click.option("--allow-remote", is_flag=True, help="Allow an address other than loopback (needs a token).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"File holding the bearer token clients must send (else ${TOKEN_ENV}).")
@click.option("--no-auth", is_flag=True, help="Serve without a token, even a remote bind (trusted networks only).")
@click.option("--cors-origin", "cors_origins", multiple=True,
              help="Allow browser pages from this origin (repeatable; CORS is off by default).")
@click.option("--max-body", type=click.IntRange(min=1024), default=1024 * 1024, show_default=True,
              help="Largest request body accepted, in bytes (larger: 413).")
@click.option("--no-access-log", is_flag=True, help="Do not log each request.")
@click.pass_obj
def serve_command(obj: AppContext, host: str, port: int, allow_remote: bool, token_file: Path | None,
                  no_auth: bool, cors_origins: tuple[str, ...], max_body: int, no_access_log: bool) -> None:  # fmt: skip
    """Serve the catalog as a read-only STAC API: item search (GET/POST, CQL2 filter, sortby,
    query, paging), collections with extents, items per collection.

    The verified files, and the files extracted from verified archives, are served under /files/
    (Range, HEAD, ETag from the recorded SHA-256; whole files by sendfile): the local assets' hrefs.

    Clients such as pystac-client, QGIS and stackstac take http://HOST:PORT/ as the STAC API
    URL. Stop it with Ctrl-C.
    """
    token = None if no_auth else read_token(token_file)
    check_bind(host, allow_remote, token, no_auth)
    try:
        import uvicorn

        from eoharvest.adapters.stac_api.app import ApiOptions, create_app
        from eoharvest.adapters.stac_api.sendfile import SendfileH11Protocol
    except ImportError as exc:
        raise UnsupportedEnvironment(f"`eoharvest serve` needs {exc.name}",
                                     hint="pip install 'eoharvest[serve]'") from None  # fmt: skip
    catalog = obj.open_catalog(read_only=True)
    engine = getattr(catalog, "reader", None)
    options = ApiOptions(token=token, cors_origins=tuple(cors_origins), max_body_bytes=max_body)
    app = create_app(catalog, engine, options)
    app.state.collections.warm()  # the collection scan runs while uvicorn starts
    _route_server_logs(access=not no_access_log)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=not no_access_log,
                            server_header=False, proxy_headers=False, timeout_keep_alive=5,
                            limit_concurrency=256, http=SendfileH11Protocol)  # whole files by sendfile  # fmt: skip
    auth = "bearer token required" if token else "no authentication"

    def announce(address: tuple[Any, ...]) -> None:
        shown = f"[{address[0]}]" if ":" in str(address[0]) else address[0]
        click.echo(f"eoharvest serve: STAC API at http://{shown}:{address[1]}/ ({auth}; catalog "
                   f"{obj.settings.catalog_path}); Ctrl-C stops it", err=True)  # fmt: skip

    try:
        asyncio.run(_serve(uvicorn.Server(config), announce))
    except SystemExit:  # uvicorn logs why it could not listen, then exits
        raise InputError(f"cannot listen on {host}:{port}", hint="is the port in use? pick another with --port") from None


async def _serve(server: Any, announce: Callable[[tuple[Any, ...]], None]) -> None:
    """Run uvicorn and announce the bound address (``--port 0`` picks one) once it listens.

    uvicorn binds the socket itself: a socket handed to it via ``sockets=`` loses TCP_NODELAY
    on accepted connections, which added a delayed-ACK 40 ms to every response."""
    task = asyncio.ensure_future(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        announce(server.servers[0].sockets[0].getsockname())
    await task


def _route_server_logs(*, access: bool) -> None:
    """uvicorn's loggers through the same handlers (redaction, JSON option) as eoharvest's own."""
    handlers = logging.getLogger("eoharvest").handlers
    for name, level in (("uvicorn.error", logging.INFO), ("uvicorn.access", logging.INFO if access else logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers = list(handlers)
        logger.propagate = False
        logger.setLevel(level)
    logging.getLogger("uvicorn").propagate = False
