"""The ASGI application: stac-fastapi's ``StacApi`` with our core client and the extensions whose
conformance classes the tests exercise (filter with CQL2 text/JSON on /search, sort, query,
token paging), and the file routes of the verified files (``files.py``). CORS only when origins
are given; errors as STAC error JSON with our messages."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eoharvest.adapters.stac_api.collections import Collections
from eoharvest.adapters.stac_api.files import add_file_routes, file_route_href
from eoharvest.adapters.stac_api.items import LocalHref
from eoharvest.adapters.stac_api.members import MemberIndex
from eoharvest.adapters.stac_api.search import CatalogSearch
from eoharvest.domain.errors import CatalogBusy, EoharvestError, InputError
from eoharvest.domain.ports import CatalogRepository
from eoharvest.domain.redaction import redact

log = logging.getLogger("eoharvest.serve")


@dataclass(frozen=True)
class ApiOptions:
    """How the app behaves; the entrypoint fills it from the command line and settings."""

    title: str = "eoharvest archive"
    description: str = "The local eoharvest catalog: verified downloads and everything seen."
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1024 * 1024
    collections_ttl: float = 300.0
    #: a verified file's asset href: its file route (``eoharvest.adapters.stac_api.items.file_uri``
    #: gives ``file://`` URIs instead)
    local_href: LocalHref = file_route_href
    serve_files: bool = True


def create_app(catalog: CatalogRepository, engine: Any, options: ApiOptions = ApiOptions()) -> Any:
    """The FastAPI app serving ``catalog`` (opened read-only); ``engine`` is its reader engine,
    used for the grouped collections scan."""
    # stac-fastapi warns at import about its default titles, which create_app replaces.
    logging.getLogger("stac_fastapi.types.config").setLevel(logging.ERROR)
    from fastapi import FastAPI
    from stac_fastapi.api.app import StacApi
    from stac_fastapi.api.models import ItemCollectionUri, create_get_request_model, create_post_request_model, create_request_model
    from stac_fastapi.extensions import (QueryExtension, SearchFilterExtension, SortExtension,
                                         TokenPaginationExtension)  # fmt: skip
    from stac_fastapi.extensions.filter.filter import FilterConformanceClasses
    from stac_fastapi.extensions.sort.sort import SortConformanceClasses
    from stac_fastapi.types.config import ApiSettings
    from stac_fastapi.types.errors import NotFoundError
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware

    from eoharvest.adapters.stac_api.client import STAC_VERSION, CatalogClient, QueryablesClient
    from eoharvest.adapters.stac_api.guards import BearerToken, BodyLimit

    search_extensions = [
        # Filter on /search only (not on /collections/{id}/items: no Features Part 3 class).
        SearchFilterExtension(client=QueryablesClient(), conformance_classes=[
            FilterConformanceClasses.SEARCH, FilterConformanceClasses.BASIC_CQL2,
            FilterConformanceClasses.CQL2_TEXT, FilterConformanceClasses.CQL2_JSON]),
        # pystac-client recognises the v1.0.0 URI; the v1.1.0 one adds nothing /search lacks.
        SortExtension(conformance_classes=["https://api.stacspec.org/v1.0.0/item-search#sort",
                                           SortConformanceClasses.ITEM_SEARCH_SORT]),
        QueryExtension(),
        TokenPaginationExtension(),
    ]
    settings = ApiSettings(_env_file=None, stac_fastapi_title=options.title,  # type: ignore[call-arg]
                           stac_fastapi_description=options.description, stac_fastapi_landing_id="eoharvest",
                           stac_fastapi_version=_version(),
                           # our dicts are JSON already: skip FastAPI's slow recursive re-encoding
                           enable_direct_response=True)  # fmt: skip
    # Listed innermost first (StacApi inserts each at the front): CORS answers preflights before
    # the token check, which runs before any body is read.
    middlewares = [Middleware(BodyLimit, max_bytes=options.max_body_bytes)]
    if options.token:
        middlewares.append(Middleware(BearerToken, token=options.token))
    if options.cors_origins:
        middlewares.append(Middleware(CORSMiddleware, allow_origins=list(options.cors_origins),
                                      allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
                                      # browsers reading files partially send Range and read Content-Range
                                      allow_headers=["Content-Type", "Authorization", "Range", "If-Range", "If-None-Match"],
                                      expose_headers=["Content-Range", "Content-Length", "Accept-Ranges", "ETag",
                                                      "Last-Modified"]))  # fmt: skip
    collections = Collections(engine, ttl=options.collections_ttl)
    files_engine = engine if engine is not None else getattr(catalog, "reader", None)
    searcher = CatalogSearch(catalog, collections)
    api = StacApi(
        settings=settings,
        client=CatalogClient(searcher=searcher, local_href=options.local_href, landing_page_id="eoharvest",
                             members=MemberIndex(files_engine).for_products if options.serve_files and files_engine
                             else None),  # fmt: skip
        extensions=search_extensions,
        stac_version=STAC_VERSION,
        app=FastAPI(openapi_url=settings.openapi_url, docs_url=settings.docs_url, redoc_url=None,
                    title=options.title, version=settings.stac_fastapi_version, description=options.description),
        search_get_request_model=create_get_request_model(search_extensions),
        search_post_request_model=create_post_request_model(search_extensions),
        items_get_request_model=create_request_model("ItemCollectionUri", base_model=ItemCollectionUri,
                                                     extensions=[TokenPaginationExtension()], request_type="GET"),
        exceptions={NotFoundError: 404},
        middlewares=middlewares,
    )  # fmt: skip
    _error_handlers(api.app)
    if options.serve_files:
        add_file_routes(api.app, files_engine)
    api.app.state.collections = collections  # the entrypoint warms it before serving
    return api.app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eoharvest")
    except PackageNotFoundError:
        return "0"


def _error_handlers(app: Any) -> None:
    from fastapi.responses import JSONResponse

    def answer(status: int, exc: Exception) -> Any:
        description = redact(str(exc))
        hint = getattr(exc, "hint", None)
        if hint:
            description += f" ({hint})"
        return JSONResponse({"code": type(exc).__name__, "description": description}, status_code=status)

    async def eoharvest_error(request: Any, exc: Exception) -> Any:
        status = 400 if isinstance(exc, InputError) else 503 if isinstance(exc, CatalogBusy) else 500
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, redact(str(exc)))
        return answer(status, exc)

    async def unexpected(request: Any, exc: Exception) -> Any:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, redact(str(exc)),
                  exc_info=log.isEnabledFor(logging.DEBUG))  # fmt: skip
        return JSONResponse({"code": "InternalError", "description": "internal error; see the server log"},
                            status_code=500)  # fmt: skip

    app.add_exception_handler(EoharvestError, eoharvest_error)
    app.add_exception_handler(Exception, unexpected)
