"""A loopback fake of NASA CMR, Earthdata Login (URS), DAAC distribution hosts and S3.

One ``ThreadingHTTPServer`` on 127.0.0.1 answers for several real host names, told apart by the
``Host`` header; :func:`loopback_names` makes those names resolve to 127.0.0.1 in-process (and
refuses every other name, so nothing leaves the machine). URLs are ``http://<real host>:<port>``.

* ``cmr.earthdata.nasa.gov``: ``/search/granules.umm_json`` (GET and form POST) with
  Search-After paging (the header comes on every non-empty page, also the last; the page after
  the last is empty and has none), ``CMR-Hits``, filters on collection, time, area, cloud cover;
  the recorded error bodies (unknown parameter, page_size, clockwise polygon, bad search-after,
  expired token, internal error); ``/search/collections.json`` in the recorded ATOM shape.
* ``urs.earthdata.nasa.gov``: ``/api/users/find_or_create_token`` and ``/api/users/tokens``
  (Basic auth, the recorded bodies), ``/oauth/authorize`` (Basic auth; a 302 back to the DAAC
  with a code, or the approval page served with 200, or ``error=access_denied``).
* DAAC hosts (``data.lpdaac.earthdatacloud.nasa.gov``, ...): files for a valid bearer token or
  session cookie, else a 302 to the login; ``/login`` trades the code for a session cookie; a
  missing EULA answers 403 JSON; with ``s3_redirect`` files are 307-redirected to a signed URL.
* ``lp-prod-protected.s3.us-west-2.amazonaws.com``: signed URLs only; an ``Authorization``
  header gets S3's 400 ``InvalidArgument``.

Recorded bodies come from ``../shared/corpus/cmr`` (read in place). The corpus has no UMM-G body
of an HLS or Sentinel-1 granule: :func:`hls_granule` and :func:`asf_s1_granule` build them in the
shape of the recorded MODIS and PO.DAAC granules, with files whose bytes the data hosts serve.
"""

from __future__ import annotations

import base64
import bisect
import copy
import hashlib
import json
import random
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from corpus import load, load_text

CMR_HOST = "cmr.earthdata.nasa.gov"
LOGIN_HOST = "urs.earthdata.nasa.gov"
LP_HOST = "data.lpdaac.earthdatacloud.nasa.gov"
ASF_HOST = "datapool.asf.alaska.edu"
S3_HOST = "lp-prod-protected.s3.us-west-2.amazonaws.com"
LOOPBACK_SUFFIXES = (".nasa.gov", ".amazonaws.com", ".alaska.edu")
RECORDED_ITEMS = (
    "01_granules_umm_json_page1_MOD02QKM_page_size2.json",
    "02_granules_umm_json_page2_via_search_after.json",
    "07_granules_umm_json_page1_relatedurls_podaac.json",
)
HLS_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B09", "B10", "B11", "Fmask", "SAA", "SZA", "VAA", "VZA")
GRANULE_PARAMS = frozenset({
    "collection_concept_id[]", "bounding_box", "polygon[]", "options[spatial][or]", "temporal[]", "cloud_cover",
    "page_size", "day_night_flag", "updated_since", "revision_date[]",
})
S3_AUTH_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code><Message>Only one auth '
                 b"mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or "
                 b"the Authorization header should be specified</Message></Error>")


def loopback_names(monkeypatch: Any) -> None:
    """Resolve the fake's real host names to 127.0.0.1; refuse any other name (no internet)."""
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.endswith(LOOPBACK_SUFFIXES):
            return real("127.0.0.1", *args, **kwargs)
        if name in ("localhost", "127.0.0.1", "::1") or re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", name):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"{name} is not resolvable in tests")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def file_bytes(path: str, size: int) -> bytes:
    return random.Random(path).randbytes(size)


def _mint_jwt(expires: datetime, user: str) -> str:
    def part(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"type": "User", "uid": user, "exp": int(expires.timestamp()), "jti": secrets.token_hex(6)}
    return f"{part({'typ': 'JWT', 'origin': 'Earthdata Login', 'alg': 'RS256'})}.{part(claims)}.CANARY-SIG{secrets.token_hex(4)}"


def _points(ring: list[tuple[float, float]]) -> list[dict[str, float]]:
    return [{"Longitude": lon, "Latitude": lat} for lon, lat in ring]


def _template() -> dict[str, Any]:
    return copy.deepcopy(load("cmr", RECORDED_ITEMS[0])["items"][0])


def hls_granule(name: str = "HLS.L30.T13SDV.2021035T173836.v2.0", *, concept_id: str = "G2147556158-LPCLOUD",
                collection: str = "C2021957657-LPCLOUD", start: str = "2021-02-04T17:38:36.830Z", cloud: float = 14,
                ring: list[tuple[float, float]] | None = None, size: int = 3000,
                bands: tuple[str, ...] = HLS_BANDS) -> dict[str, Any]:  # fmt: skip
    """An HLSL30 v2.0 granule of ~15 files in the shape of the recorded UMM-G items."""
    item = _template()
    short = "HLSS30" if ".S30." in name else "HLSL30"
    folder = f"https://{LP_HOST}/lp-prod-protected/{short}.020/{name}"
    ring = ring or [(-106.0983, 35.1499), (-104.8928, 35.1548), (-104.8915, 36.1448), (-106.1119, 36.1449), (-106.0983, 35.1499)]
    algorithms = ("SHA-256", "SHA-512", "MD5")
    files, urls = [], []
    for index, band in enumerate(bands):
        file_name = f"{name}.{band}.tif"
        url = f"{folder}/{file_name}"
        data = file_bytes(urlsplit(url).path, size + index)
        algorithm = algorithms[index % 3]
        digest = hashlib.new(algorithm.replace("-", "").lower(), data).hexdigest()
        files.append({"Name": file_name, "SizeInBytes": len(data), "Size": len(data) / 1e6, "SizeUnit": "MB",
                      "Checksum": {"Value": digest, "Algorithm": algorithm}})  # fmt: skip
        urls.append({"URL": url, "Type": "GET DATA", "Description": f"Download {file_name}", "MimeType": "image/tiff"})
        urls.append({"URL": f"s3://lp-prod-protected/{short}.020/{name}/{file_name}", "Type": "GET DATA VIA DIRECT ACCESS"})
    urls += [
        {"URL": f"https://{LP_HOST}/lp-prod-public/{short}.020/{name}/{name}.jpg", "Type": "GET RELATED VISUALIZATION"},
        {"URL": f"https://{LP_HOST}/s3credentials", "Type": "VIEW RELATED INFORMATION"},
        {"URL": f"https://{LP_HOST}/lp-prod-public/{short}.020/{name}/{name}.cmr.xml", "Type": "EXTENDED METADATA"},
        {"URL": f"https://opendap.earthdata.nasa.gov/collections/{collection}/granules/{name}", "Type": "USE SERVICE API",
         "Subtype": "OPENDAP DATA"},
    ]
    end = (datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(seconds=24)).isoformat().replace("+00:00", "Z")
    item["meta"].update({"concept-id": concept_id, "collection-concept-id": collection, "provider-id": "LPCLOUD",
                         "native-id": name, "revision-date": "2021-10-29T10:48:40.541Z"})  # fmt: skip
    umm = item["umm"]
    umm.update(GranuleUR=name, CloudCover=cloud, RelatedUrls=urls,
               CollectionReference={"ShortName": short, "Version": "2.0"},
               TemporalExtent={"RangeDateTime": {"BeginningDateTime": start, "EndingDateTime": end}},
               SpatialExtent={"HorizontalSpatialDomain": {"Geometry": {"GPolygons": [{"Boundary": {"Points": _points(ring)}}]}}},
               Platforms=[{"ShortName": "LANDSAT-8", "Instruments": [{"ShortName": "OLI"}]}])  # fmt: skip
    umm["DataGranule"] = {"DayNightFlag": "Day", "ProductionDateTime": start,
                          "Identifiers": [{"Identifier": name, "IdentifierType": "ProducerGranuleId"}],
                          "ArchiveAndDistributionInformation": files}  # fmt: skip
    return item


def asf_s1_granule(product: str = "S1A_IW_SLC__1SDV_20220703T154846_20220703T154912_043938_053EBC_D45D", *,
                   content: bytes = b"", concept_id: str = "G2300000001-ASF",
                   collection: str = "C1214470488-ASF") -> dict[str, Any]:  # fmt: skip
    """A SENTINEL-1A_SLC granule as ASF lists it: the granule UR carries a ``-SLC`` suffix."""
    item = _template()
    url = f"https://{ASF_HOST}/SLC/SA/{product}.zip"
    start = datetime.strptime(product.split("_")[5], "%Y%m%dT%H%M%S").isoformat() + ".000Z"
    item["meta"].update({"concept-id": concept_id, "collection-concept-id": collection, "provider-id": "ASF",
                         "native-id": f"{product}-SLC"})  # fmt: skip
    umm = item["umm"]
    umm.update(GranuleUR=f"{product}-SLC", RelatedUrls=[{"URL": url, "Type": "GET DATA"}],
               CollectionReference={"ShortName": "SENTINEL-1A_SLC", "Version": "1"},
               TemporalExtent={"RangeDateTime": {"BeginningDateTime": start, "EndingDateTime": start}},
               Platforms=[{"ShortName": "SENTINEL-1A", "Instruments": [{"ShortName": "SAR"}]}],
               SpatialExtent={"HorizontalSpatialDomain": {"Geometry": {"GPolygons": [{"Boundary": {"Points": _points(
                   [(-79.9, 43.2), (-76.9, 43.6), (-77.3, 45.4), (-80.4, 45.0), (-79.9, 43.2)])}}]}}})  # fmt: skip
    umm.pop("CloudCover", None)
    umm["DataGranule"] = {"DayNightFlag": "Unspecified", "ProductionDateTime": start,
                          "Identifiers": [{"Identifier": product, "IdentifierType": "ProducerGranuleId"}],
                          "ArchiveAndDistributionInformation": [
                              {"Name": f"{product}.zip", "SizeInBytes": len(content),
                               "Checksum": {"Value": hashlib.md5(content).hexdigest(), "Algorithm": "MD5"}}]}  # fmt: skip
    return item


def collection_entry(concept_id: str, short_name: str, version: str, provider: str, *, cloud_hosted: bool = True,
                     coordinate_system: str = "GEODETIC", title: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A ``collections.json`` entry in the shape of the recorded one (09)."""
    entry = copy.deepcopy(load("cmr", "09_collections_json_page1.json")["feed"]["entry"][0])
    entry.update(id=concept_id, short_name=short_name, version_id=version, data_center=provider,
                 cloud_hosted=cloud_hosted, coordinate_system=coordinate_system,
                 title=title or f"{short_name} version {version}", dataset_id=title or f"{short_name} version {version}")  # fmt: skip
    return entry


DEFAULT_COLLECTIONS = (
    ("C2021957657-LPCLOUD", "HLSL30", "2.0", "LPCLOUD"),
    ("C2021957295-LPCLOUD", "HLSS30", "2.0", "LPCLOUD"),
    ("C1378579425-LAADS", "MOD02QKM", "6.1", "LAADS"),
    ("C2270392799-POCLOUD", "SEA_SURFACE_HEIGHT_ALT_GRIDS_L4_2SATS_5DAY_6THDEG_V_JPL2205", "2205", "POCLOUD"),
    ("C1214470488-ASF", "SENTINEL-1A_SLC", "1", "ASF"),
    ("C1327985661-ASF", "SENTINEL-1B_SLC", "1", "ASF"),
)


@dataclass
class Seen:
    """One request as the fake received it."""

    host: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str = ""

    @property
    def params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body if self.method == "POST" and "form" in self.headers.get("content-type", "") else self.query,
                         keep_blank_values=True)  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def server_bind(self) -> None:  # no reverse DNS lookup
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.fake.dispatch(self, "GET")  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802
        self.server.fake.dispatch(self, "POST")  # type: ignore[attr-defined]

    def reply(self, status: int, body: bytes | str = b"", content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


#: The handler other fakes reuse: GET/POST to ``server.fake.dispatch``, ``reply`` to answer.
DispatchHandler = _Handler


@dataclass
class CmrFake:
    """Start with ``with CmrFake() as fake`` (after :func:`loopback_names`)."""

    username: str = "edl-user"
    password: str = "CANARY-EDL-PW-7f3a"
    clock: Any = None
    token_ttl: timedelta = timedelta(days=60)
    #: data hosts accept bearer tokens (Cumulus/TEA); False: only the OAuth redirect and cookie
    accept_bearer: bool = True
    #: data hosts answer with a 307 to a signed S3 URL instead of the bytes
    s3_redirect: bool = False
    #: the account has not accepted the DAAC's EULA (403 JSON to bearer requests)
    eula_missing: bool = False
    #: the login answers /oauth/authorize with the application approval page (HTML, 200)
    approval_page: bool = False
    #: the login redirects back with error=access_denied (EULA updated)
    access_denied: bool = False
    #: statuses served (once each, in order) before the next granule search is answered
    fail_next: list[int] = field(default_factory=list)
    #: granule answers carry CMR-Hits (False: neither the header nor the body's hits)
    send_hits: bool = True
    #: path -> bytes served instead of the generated ones (a real zip for a Sentinel-1 product)
    content: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.granules: list[dict[str, Any]] = []
        self.collections = [collection_entry(*c) for c in DEFAULT_COLLECTIONS]
        self.seen: list[Seen] = []
        self.tokens: dict[str, datetime] = {}
        self.codes: dict[str, str] = {}
        self.sessions: set[str] = set()
        self.client_id = "CANARYclientIDx1"
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]

    # -- lifecycle and addresses -------------------------------------------------------------
    def __enter__(self) -> CmrFake:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def base(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    @property
    def cmr_url(self) -> str:
        return self.base(CMR_HOST) + "/search"

    @property
    def login_url(self) -> str:
        return self.base(LOGIN_HOST)

    def endpoints(self) -> dict[str, str]:
        return {"cmr_url": self.cmr_url, "earthdata_login_url": self.login_url}

    def rewrite(self, value: Any) -> Any:
        """A recorded body with its https URLs pointed at this fake."""
        text = json.dumps(value)
        text = re.sub(r"https://([a-z0-9.-]+(?:nasa\.gov|amazonaws\.com|alaska\.edu))/", lambda m: self.base(m.group(1)) + "/", text)
        return json.loads(text)

    def now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(timezone.utc)

    # -- content ------------------------------------------------------------------------------
    def add(self, *items: dict[str, Any]) -> None:
        self.granules.extend(self.rewrite(i) for i in items)

    def add_recorded(self) -> list[dict[str, Any]]:
        """The six recorded UMM-G granules (MOD02QKM pages 1-2, PO.DAAC, ...)."""
        items = [i for name in RECORDED_ITEMS for i in load("cmr", name)["items"]]
        self.add(*items)
        return items

    def requests_to(self, host: str, path_prefix: str = "/") -> list[Seen]:
        return [s for s in self.seen if s.host == host and s.path.startswith(path_prefix)]

    def password_attempts(self) -> int:
        """Requests that carried the Basic credentials to the login host."""
        return sum(1 for s in self.requests_to(LOGIN_HOST) if s.headers.get("authorization", "").startswith("Basic "))

    # -- routing -----------------------------------------------------------------------------
    def dispatch(self, handler: _Handler, method: str) -> None:
        host = (handler.headers.get("Host") or "").split(":")[0]
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8", "replace") if length else ""
        seen = Seen(host, method, parts.path, parts.query, {k.lower(): v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.seen.append(seen)
        if host == CMR_HOST:
            return self._cmr(handler, seen)
        if host == LOGIN_HOST:
            return self._login(handler, seen)
        if host == S3_HOST:
            return self._s3(handler, seen)
        if host.endswith(LOOPBACK_SUFFIXES):
            return self._daac(handler, seen)
        handler.reply(404, '{"errors":["unknown host"]}')

    # -- CMR -----------------------------------------------------------------------------------
    def _cmr(self, handler: _Handler, seen: Seen) -> None:
        if seen.headers.get("authorization"):
            return handler.reply(401, load_text("cmr", "21_reconstructed_error_401_token_expired.json"))
        if seen.path == "/search/collections.json":
            return self._collections(handler, seen)
        if seen.path != "/search/granules.umm_json":
            return handler.reply(404, '{"errors":["Not found"]}')
        with self._lock:
            failure = self.fail_next.pop(0) if self.fail_next else None
        if failure == 500:
            return handler.reply(500, load_text("cmr", "22_reconstructed_error_500_internal.json"))
        if failure is not None:
            return handler.reply(failure, '{"errors":["Too many requests"]}', headers={"Retry-After": "0"})
        params = seen.params
        unknown = [k for k, _ in params if k not in GRANULE_PARAMS]
        if unknown:
            text = load_text("cmr", "17_reconstructed_error_400_unrecognized_param.json").replace("[foo]", f"[{unknown[0]}]")
            return handler.reply(400, text)
        values = {k: [v for key, v in params if key == k] for k, _ in params}
        size = int((values.get("page_size") or ["10"])[0])
        if not 0 <= size <= 2000:
            return handler.reply(400, load_text("cmr", "18_reconstructed_error_400_page_size.json"))
        polygons = [self._ring(p) for p in values.get("polygon[]", [])]
        if any(_signed_area(r) < 0 for r in polygons):
            return handler.reply(400, load_text("cmr", "19_reconstructed_error_400_polygon_clockwise.json"))
        after = seen.headers.get("cmr-search-after")
        cursor = None
        if after is not None:
            try:
                cursor = json.loads(after)
                assert isinstance(cursor, list)
            except (ValueError, AssertionError):
                return handler.reply(400, load_text("cmr", "20_reconstructed_error_400_bad_search_after.json"))
        matching = sorted((g for g in self.granules if self._matches(g, values, polygons)), key=_sort_key)
        start = bisect.bisect_right([_sort_key(g) for g in matching], tuple(cursor)) if cursor else 0
        page = matching[start: start + size]
        headers = {"CMR-Hits": str(len(matching)), "CMR-Took": "7", "CMR-Request-Id": secrets.token_hex(8)}
        if page:
            headers["CMR-Search-After"] = json.dumps(list(_sort_key(page[-1])), separators=(",", ":"))
        body: dict[str, Any] = {"hits": len(matching), "took": 7, "items": page}
        if not self.send_hits:
            del headers["CMR-Hits"], body["hits"]
        handler.reply(200, json.dumps(body), "application/vnd.nasa.cmr.umm_results+json;version=1.6.6; charset=utf-8", headers)

    @staticmethod
    def _ring(text: str) -> list[tuple[float, float]]:
        numbers = [float(v) for v in text.split(",")]
        return list(zip(numbers[0::2], numbers[1::2]))

    def _matches(self, granule: dict[str, Any], values: dict[str, list[str]], polygons: list[list[tuple[float, float]]]) -> bool:
        umm = granule["umm"]
        collections = values.get("collection_concept_id[]")
        if collections and granule["meta"].get("collection-concept-id") not in collections:
            return False
        begin = umm["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"][:19]
        for span in values.get("temporal[]", []):
            low, high = span.split(",")
            if (low and begin < low[:19]) or (high and begin > high[:19]):
                return False
        for span in values.get("cloud_cover", []):
            low, high = span.split(",")
            cloud = umm.get("CloudCover")
            if cloud is None or (low and cloud < float(low)) or (high and cloud > float(high)):
                return False
        boxes = [tuple(float(v) for v in b.split(",")) for b in values.get("bounding_box", [])]
        boxes += [(min(x for x, _ in r), min(y for _, y in r), max(x for x, _ in r), max(y for _, y in r)) for r in polygons]
        if boxes:
            west, south, east, north = _granule_bounds(umm)
            hits = [not (e < west or w > east or n < south or s > north) if w <= e else not (n < south or s > north)
                    for w, s, e, n in boxes]  # fmt: skip
            return any(hits) if values.get("options[spatial][or]") == ["true"] else all(hits)
        return True

    def _collections(self, handler: _Handler, seen: Seen) -> None:
        values: dict[str, list[str]] = {}
        for key, value in seen.params:
            values.setdefault(key, []).append(value)
        entries = list(self.collections)
        if "short_name[]" in values:
            wanted = {v.upper() for v in values["short_name[]"]}
            entries = [e for e in entries if e["short_name"].upper() in wanted]
        if "concept_id[]" in values:
            entries = [e for e in entries if e["id"] in values["concept_id[]"]]
        if "provider" in values:
            entries = [e for e in entries if e["data_center"] in values["provider"]]
        if "keyword" in values:
            word = values["keyword"][0].lower().rstrip("*")
            entries = [e for e in entries if word in json.dumps(e).lower()]
        size = int((values.get("page_size") or ["10"])[0])
        feed = {"feed": {"updated": "2024-07-24T19:29:01.805Z", "id": self.cmr_url + "/collections.json?" + seen.query,
                         "title": "ECHO dataset metadata", "entry": entries[:size]}}  # fmt: skip
        handler.reply(200, json.dumps(feed), "application/json;charset=utf-8", {"CMR-Hits": str(len(entries))})

    # -- Earthdata Login -------------------------------------------------------------------------
    def _basic_ok(self, seen: Seen) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return seen.headers.get("authorization") == f"Basic {expected}"

    def _new_token(self) -> str:
        expires = self.now() + self.token_ttl
        token = _mint_jwt(expires, self.username)
        with self._lock:
            self.tokens[token] = expires
        return token

    def _valid_tokens(self) -> list[str]:
        now = self.now()
        return [t for t, exp in self.tokens.items() if exp > now]

    def _login(self, handler: _Handler, seen: Seen) -> None:
        if seen.path.startswith("/api/users/"):
            if not self._basic_ok(seen):
                return handler.reply(401, load_text("cmr", "10_urs_api_users_401.json"), "application/json; charset=utf-8",
                                     {"Cache-Control": "no-store"})  # fmt: skip
            if seen.path == "/api/users/find_or_create_token" and seen.method == "POST":
                token = (self._valid_tokens() or [self._new_token()])[0]
                body = load("cmr", "11_urs_api_users_200.json")
                body.update(access_token=token, expiration_date=self.tokens[token].strftime("%m/%d/%Y"))
                return handler.reply(200, json.dumps(body), "application/json; charset=utf-8")
            if seen.path == "/api/users/tokens":
                template = load("cmr", "12_urs_api_users_tokens.json")[0]
                listed = [{**template, "access_token": t, "expiration_date": self.tokens[t].strftime("%m/%d/%Y")}
                          for t in self._valid_tokens()]  # fmt: skip
                return handler.reply(200, json.dumps(listed), "application/json; charset=utf-8")
            return handler.reply(404, '{"error": "not_found"}')
        if seen.path == "/oauth/authorize":
            query = parse_qs(seen.query)
            if not self._basic_ok(seen):
                return handler.reply(401, load_text("cmr", "10_urs_api_users_401.json"))
            target, state = query["redirect_uri"][0], query.get("state", [""])[0]
            cookie = {"Set-Cookie": f"_urs-gui_session={secrets.token_hex(8)}; path=/; HttpOnly"}  # shape of recording 14
            if self.approval_page:
                page = ("<!DOCTYPE html><html><head><title>Earthdata Login | Authorize Application</title></head><body>"
                        f"<form action=\"/oauth/authorize\">Approve the application {self.client_id}</form></body></html>")
                return handler.reply(200, page, "text/html; charset=utf-8", cookie)
            if self.access_denied:
                resolution = f"{self.login_url}/approve_app?client_id={self.client_id}"
                refused = urlencode({"error": "access_denied", "error_msg": "App EULA has been updated, please reauthorize",
                                     "resolution_url": resolution, "state": state})  # fmt: skip
                return handler.reply(302, b"", "text/html", {"Location": f"{target}?{refused}", **cookie})
            code = secrets.token_hex(8)
            with self._lock:
                self.codes[code] = state
            return handler.reply(302, b"", "text/html", {"Location": f"{target}?{urlencode({'code': code, 'state': state})}", **cookie})
        if seen.path == "/profile":
            headers = load("cmr", "14_urs_profile_302_headers.json")["headers"]
            return handler.reply(302, load_text("cmr", "14_urs_profile_302.txt"), "text/html; charset=utf-8",
                                 {"Location": headers["Location"][0].replace(f"https://{LOGIN_HOST}", self.login_url)})  # fmt: skip
        handler.reply(404, '{"error": "not_found"}')

    # -- distribution hosts and S3 ------------------------------------------------------------------
    def _daac(self, handler: _Handler, seen: Seen) -> None:
        base = self.base(seen.host)
        if seen.path == "/login":
            query = parse_qs(seen.query)
            state = query.get("state", ["/"])[0]
            with self._lock:
                known = self.codes.pop(query.get("code", [""])[0], None)
            if known is None:
                return handler.reply(401, '{"error": "invalid_grant"}')
            session = f"CANARY-SESSION-{secrets.token_hex(6)}"
            with self._lock:
                self.sessions.add(session)
            return handler.reply(302, b"", "text/html", {"Location": base + state,
                                                         "Set-Cookie": f"nasa_session={session}; Path=/; HttpOnly"})  # fmt: skip
        size = self._file_size(seen.host, seen.path)
        if size is None:
            return handler.reply(404, '{"error": "not_found"}')
        bearer = seen.headers.get("authorization", "").removeprefix("Bearer ").strip() if seen.headers.get(
            "authorization", "").startswith("Bearer ") else None  # fmt: skip
        cookie = re.search(r"nasa_session=([\w-]+)", seen.headers.get("cookie", ""))
        authed = bool(cookie and cookie.group(1) in self.sessions)
        if bearer is not None and self.accept_bearer and not authed:
            expiry = self.tokens.get(bearer)
            if expiry is None or expiry <= self.now():
                return handler.reply(401, json.dumps({"error": "invalid_token", "error_description": "Token is expired or invalid"}))
            authed = True
        if authed and self.eula_missing:
            resolution = f"{self.login_url}/approve_app?client_id={self.client_id}"
            return handler.reply(403, json.dumps({"status_code": 403, "error_description": "EULA Acceptance Failure",
                                                  "resolution_url": resolution}))  # fmt: skip
        if not authed:
            query = urlencode({"client_id": self.client_id, "response_type": "code", "redirect_uri": base + "/login",
                               "state": seen.path})  # fmt: skip
            return handler.reply(302, b"", "text/html", {"Location": f"{self.login_url}/oauth/authorize?{query}"})
        if self.s3_redirect:
            signed = f"{self.base(S3_HOST)}{seen.path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=CANARY{secrets.token_hex(4)}"
            return handler.reply(307, b"", "text/plain", {"Location": signed})
        self._send_file(handler, seen, size)

    def _s3(self, handler: _Handler, seen: Seen) -> None:
        if seen.headers.get("authorization"):
            return handler.reply(400, S3_AUTH_ERROR, "application/xml")
        if "X-Amz-Signature=" not in seen.query:
            return handler.reply(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
        size = self._file_size(LP_HOST, seen.path)
        if size is None:
            return handler.reply(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        self._send_file(handler, seen, size)

    def _file_size(self, host: str, path: str) -> int | None:
        for granule in self.granules:
            sizes = {f.get("Name"): f.get("SizeInBytes") for f in granule["umm"].get("DataGranule", {}).get(
                "ArchiveAndDistributionInformation", [])}  # fmt: skip
            for link in granule["umm"].get("RelatedUrls", []):
                parts = urlsplit(link["URL"])
                if link.get("Type") == "GET DATA" and parts.hostname == host and parts.path == path:
                    size = sizes.get(path.rsplit("/", 1)[-1])
                    return size if isinstance(size, int) else None
        return None

    def _send_file(self, handler: _Handler, seen: Seen, size: int) -> None:
        data = self.content.get(seen.path) or file_bytes(seen.path, size)
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", seen.headers.get("range", ""))
        if ranged and int(ranged.group(1)) < len(data):
            start = int(ranged.group(1))
        headers = {"ETag": f'"{hashlib.md5(data).hexdigest()}"', "Accept-Ranges": "bytes"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        handler.reply(206 if start else 200, data[start:], "application/octet-stream", headers)


def _sort_key(granule: dict[str, Any]) -> tuple[str, int, int]:
    """CMR's default granule order and the shape of its Search-After values."""
    meta, umm = granule["meta"], granule["umm"]
    begin = datetime.fromisoformat(umm["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"].replace("Z", "+00:00"))
    number = int(re.sub(r"\D", "", meta["concept-id"].split("-")[0]) or 0)
    return (meta["provider-id"].lower(), int(begin.timestamp() * 1000), number)


def _granule_bounds(umm: dict[str, Any]) -> tuple[float, float, float, float]:
    geometry = umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]
    xs: list[float] = []
    ys: list[float] = []
    for polygon in geometry.get("GPolygons", []):
        for p in polygon["Boundary"]["Points"]:
            xs.append(p["Longitude"])
            ys.append(p["Latitude"])
    for r in geometry.get("BoundingRectangles", []):
        xs += [r["WestBoundingCoordinate"], r["EastBoundingCoordinate"]]
        ys += [r["SouthBoundingCoordinate"], r["NorthBoundingCoordinate"]]
    return (min(xs), min(ys), max(xs), max(ys))


def _signed_area(ring: list[tuple[float, float]]) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:])) / 2


__all__ = ["CmrFake", "asf_s1_granule", "collection_entry", "hls_granule", "loopback_names", "settings_for"]


def settings_for(fake: CmrFake, tmp_path: Any, **overrides: Any) -> Any:
    """Settings pointing at the fake, with a catalog and archive under ``tmp_path``."""
    from eoharvest.entrypoints.config import load_settings

    values = {**fake.endpoints(), "catalog_path": tmp_path / "catalog.db", "directory": tmp_path / "archive",
              "max_retries": 2, "retry_max_seconds": 5, **overrides}  # fmt: skip
    return load_settings(values, environ={})
