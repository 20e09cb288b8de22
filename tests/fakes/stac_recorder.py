"""A StacSource over httpx.MockTransport serving recorded STAC responses by predicate."""

import json

import httpx

from corpus import load_text
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.stac.search import StacSource
from eoharvest.domain.retry import RetryPolicy

ES = "https://earth-search.aws.element84.com/v1"
PC = "https://planetarycomputer.microsoft.com/api/stac/v1"


class Recorder:
    """Routes requests to recorded files by predicate; remembers every request body."""

    def __init__(self, routes):
        self.routes = routes  # list of (predicate, folder, file)
        self.requests = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, str(request.url), body))
        for predicate, folder, name in self.routes:
            if predicate(request, body):
                return httpx.Response(200, text=load_text(folder, name), headers={"Content-Type": "application/geo+json"})
        return httpx.Response(404, json={"code": "NotFound", "description": "Not Found"})


def source(handler, base, **kw):
    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = JsonApi(client, guard=UrlGuard(allow_private=True, resolver=lambda h, p: ["93.184.216.34"]),
                  provider="stac", policy=RetryPolicy(max_attempts=2, base_delay=0.001))
    return StacSource(api, base, name=kw.pop("name", "earth-search"), **kw)


def is_landing(base):
    return lambda r, b: r.method == "GET" and str(r.url).rstrip("/") == base.rstrip("/")
