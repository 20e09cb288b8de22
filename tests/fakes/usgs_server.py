"""A loopback fake of the USGS M2M JSON API, its download staging host and a file host.

Three ``ThreadingHTTPServer``s on 127.0.0.1 (three origins):

* M2M at ``/api/api/json/stable/<endpoint>`` (POST, or GET with a JSON body as some clients
  send): ``login-token`` (username + application token) gives an API key; the retired password
  ``login`` answers the recorded ``NOT_FOUND "Invalid Endpoint"``; a wrong token gets
  ``AUTH_INVALID``, a user without M2M access ``UNAUTHORIZED_USER``; every other endpoint wants
  ``X-Auth-Token`` (``AUTH_KEY_INVALID``; keys can be made to expire: ``AUTH_EXPIRED``). Every
  answer is an envelope sent with HTTP 200. A second request of one account while one is in
  flight gets ``RATE_LIMIT_USER``; more download requests than ``download_quota`` get
  ``RATE_LIMIT_USER_DL``. ``scene-search`` filters by dataset, area (geoJson or mbr),
  acquisition days, cloud cover and ingest days and pages by ``startingNumber``/``maxResults``
  with ``nextRecord == totalHits`` on the last page. ``download-options`` lists the wms browse
  products, the Level-2 bundle and its band files (``secondaryDownloads``);
  ``download-request`` prepares files (available after ``prepare_polls`` retrieves), reports
  ``duplicateProducts`` (as a list or a map) for products requested before;
  ``download-retrieve`` (by label, or all) moves them to ``available`` with a URL on the
  staging host; ``download-order-remove`` and ``logout``.
* the staging host (``dds``): ``/download-staging/<id>`` answers 302 to the file host.
* the file host: the bytes (a real ``.tar`` bundle whose MTL lists its members, or a band).

Every request is recorded with its headers, so tests can check where the key went.

Authentic bodies (``../shared/corpus/usgs_m2m``, read in place) are served where they apply:
the error envelopes, the empty search, logout, and the wms browse products of the recorded
``download-options`` answer. The corpus is Collection 1 only: the Collection 2 Level-2 scenes,
bundles and band files here are RECONSTRUCTED, built on the recorded result's shape with the
documented C2 fields (display ids ``LC08_L2SP_...``, band entity ids ``L2SR_<display id>_SR_B4_TIF``,
product names "Landsat Collection 2 Level-2 Product Bundle" / "... Band File").
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
import os
import secrets
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from corpus import load
from fakes.cmr_server import DispatchHandler
from shapely.geometry import box, shape

API_PATH = "/api/api/json/stable"
RECORDED_SEARCH = "01_scene_search_landsat_8_c1_1hit.json"
RECORDED_OPTIONS = "05_download_options_landsat_8_c1.json"
BUNDLE_NAME = "Landsat Collection 2 Level-2 Product Bundle"
BAND_NAME = "Landsat Collection 2 Level-2 Band File"
OLI_FILES = ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7", "ST_B10", "QA_PIXEL", "QA_RADSAT",
             "SR_QA_AEROSOL", "ST_QA")  # fmt: skip
TM_FILES = ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7", "ST_B6", "QA_PIXEL", "QA_RADSAT", "ST_QA")
DATASET_OF = {"LT04": "landsat_tm_c2_l2", "LT05": "landsat_tm_c2_l2", "LE07": "landsat_etm_c2_l2",
              "LC08": "landsat_ot_c2_l2", "LC09": "landsat_ot_c2_l2"}  # fmt: skip
# Footprint of path/row 033/032 (the Earth Search item LC08_L2SP_033032_20231008_02_T1 covers it)
RING_033032 = [[-105.17, 39.63], [-102.91, 39.23], [-103.29, 41.34], [-105.61, 41.74], [-105.17, 39.63]]


def file_bytes(name: str, size: int = 2000) -> bytes:
    """Deterministic content of a band file."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[: size + seed[0] % 97]


def mtl_text(product_id: str, members: list[str]) -> str:
    """An ODL ``_MTL.txt`` with the PRODUCT_CONTENTS group naming every file of the product."""
    lines = ["GROUP = LANDSAT_METADATA_FILE", "  GROUP = PRODUCT_CONTENTS", f'    LANDSAT_PRODUCT_ID = "{product_id}"']
    for index, member in enumerate(members, 1):
        lines.append(f'    FILE_NAME_{index:02d} = "{member}"')
    lines += ["  END_GROUP = PRODUCT_CONTENTS", "END_GROUP = LANDSAT_METADATA_FILE", "END", ""]
    return "\n".join(lines)


def bundle_tar(product_id: str) -> bytes:
    """The Level-2 bundle: the band files, MTL.txt and MTL.json listing every member."""
    tokens = OLI_FILES if product_id.startswith("LC") else TM_FILES
    bands = [f"{product_id}_{t}.TIF" for t in tokens]
    mtl, mtl_json = f"{product_id}_MTL.txt", f"{product_id}_MTL.json"
    members = bands + [mtl, mtl_json]
    contents = {f"FILE_NAME_{i:02d}": m for i, m in enumerate(members, 1)}
    payload = {name: file_bytes(name) for name in bands}
    payload[mtl] = mtl_text(product_id, members).encode()
    payload[mtl_json] = json.dumps({"LANDSAT_METADATA_FILE": {"PRODUCT_CONTENTS": {
        "LANDSAT_PRODUCT_ID": product_id, **contents}}}).encode()  # fmt: skip
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(payload[name]), 1_600_000_000, 0o644
            tf.addfile(info, io.BytesIO(payload[name]))
    return out.getvalue()


def c2_scene(display_id: str, entity_id: str, *, acquired: str, cloud: str = "12.5", published: str | None = None,
             ring: list[list[float]] | None = None) -> dict[str, Any]:  # fmt: skip
    """A RECONSTRUCTED Collection 2 Level-2 ``scene-search`` result, on the recorded C1 result's shape."""
    result = copy.deepcopy(load("usgs_m2m", RECORDED_SEARCH)["data"]["results"][0])
    ring = ring or RING_033032
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    dataset = DATASET_OF[display_id[:4]]
    for browse in result["browse"]:
        for key in ("browsePath", "thumbnailPath", "overlayPath"):
            browse[key] = (browse[key].replace("landsat_8_c1", dataset).replace("LC08_L1TP_233083_20160911_20170321_01_T1", display_id)
                           .replace("lc82330832016255lgn01", entity_id.lower()))  # fmt: skip
    result.update(
        cloudCover=cloud, entityId=entity_id, displayId=display_id,
        spatialCoverage={"type": "Polygon", "coordinates": [ring]},
        spatialBounds={"type": "Polygon", "coordinates": [[[min(xs), min(ys)], [min(xs), max(ys)], [max(xs), max(ys)],
                                                           [max(xs), min(ys)], [min(xs), min(ys)]]]},
        temporalCoverage={"endDate": f"{acquired} 00:00:00", "startDate": f"{acquired} 00:00:00"},
        publishDate=published or f"{acquired} 20:15:03",
    )  # fmt: skip
    return result


def c2_download_options(scene: dict[str, Any]) -> list[dict[str, Any]]:
    """RECONSTRUCTED ``download-options`` of a C2 L2 scene: the recorded wms browse products, the
    bundle and, under it, one band file per product file (its own entity id, band in the display id)."""
    display, entity_id = scene["displayId"], scene["entityId"]
    recorded = load("usgs_m2m", RECORDED_OPTIONS)["data"]
    options = [{**o, "displayId": display, "entityId": entity_id} for o in recorded if o["downloadSystem"] == "wms"]
    tokens = OLI_FILES if display.startswith("LC") else TM_FILES
    bands = []
    for index, token in enumerate(tokens):
        name = f"{display}_{token}.TIF"
        prefix = "L2ST" if token.startswith("ST_") else "L2SR"
        bands.append({"id": f"5e83d14f{index:08x}", "displayId": name, "entityId": f"{prefix}_{display}_{token}_TIF",
                      "datasetId": "5e83d14fb9436d88", "available": True, "filesize": len(file_bytes(name)),
                      "productName": BAND_NAME, "productCode": "D557", "bulkAvailable": True, "downloadSystem": "ls_zip",
                      "secondaryDownloads": []})  # fmt: skip
    options.append({"id": "5e83d14f2fc39685", "displayId": display, "entityId": entity_id, "datasetId": "5e83d14fb9436d88",
                    "available": True, "filesize": len(bundle_tar(display)), "productName": BUNDLE_NAME,
                    "productCode": "D555", "bulkAvailable": True, "downloadSystem": "dds", "secondaryDownloads": bands})  # fmt: skip
    return options


def default_scenes() -> list[dict[str, Any]]:
    return [
        c2_scene("LC08_L2SP_033032_20231008_20231017_02_T1", "LC80330322023281LGN00", acquired="2023-10-08", cloud="0.06",
                 published="2023-10-17 16:40:11"),
        c2_scene("LC09_L2SP_033032_20231016_20231017_02_T1", "LC90330322023289LGN00", acquired="2023-10-16", cloud="35.51",
                 published="2023-10-17 18:02:45"),
        c2_scene("LC08_L2SP_033032_20231024_20231101_02_T1", "LC80330322023297LGN00", acquired="2023-10-24", cloud="80.12",
                 published="2023-11-01 09:12:00"),
        c2_scene("LE07_L2SP_033032_20231002_20231028_02_T1", "LE70330322023275EDC00", acquired="2023-10-02", cloud="3.0"),
        c2_scene("LT05_L2SP_033032_20111018_20200820_02_T1", "LT50330322011291EDC00", acquired="2011-10-18", cloud="7.25"),
    ]  # fmt: skip


@dataclass
class Seen:
    server: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None

    @property
    def endpoint(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Download:
    download_id: int
    entity_id: str
    product_id: str
    label: str
    filename: str
    polls: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # client went away: not our business
        pass


#: GET/POST go to the fake's ``dispatch``; ``reply`` sends a body (the CMR fake's handler).
_Handler = DispatchHandler


@dataclass
class UsgsFake:
    """``with UsgsFake() as fake``; ``fake.m2m_url``, ``fake.username``, ``fake.token``."""

    username: str = "landsat-archivist"
    token: str = field(default_factory=lambda: "CANARY-M2M-TOKEN-" + secrets.token_hex(12))
    scenes: list[dict[str, Any]] = field(default_factory=default_scenes)
    #: download-retrieve calls that list a download before it is available (0: at once)
    prepare_polls: int = 1
    #: download requests accepted before RATE_LIMIT_USER_DL
    download_quota: int = 1000
    #: "list" or "map": the shape of duplicateProducts
    duplicate_shape: str = "list"
    #: users whose login-token answers UNAUTHORIZED_USER
    no_access: set[str] = field(default_factory=set)
    #: seconds each M2M call takes (so concurrent calls of one account overlap)
    latency: float = 0.0

    def __post_init__(self) -> None:
        self.seen: list[Seen] = []
        self.keys: dict[str, str] = {}  # key -> username
        self.expired: set[str] = set()
        self.downloads: dict[int, Download] = {}
        self.requests_made = 0
        self.rate_limited = 0
        self._busy: dict[str, int] = {}
        self._ids = itertools.count(26107136)
        self._lock = threading.Lock()
        self._servers = {role: _Server(("127.0.0.1", 0), _Handler) for role in ("m2m", "dds", "files")}
        for role, server in self._servers.items():
            server.fake = self  # type: ignore[attr-defined]
            server.role = role  # type: ignore[attr-defined]
        self.m2m_url = f"http://127.0.0.1:{self._port('m2m')}{API_PATH}"
        self.dds_url = f"http://127.0.0.1:{self._port('dds')}"
        self.files_url = f"http://127.0.0.1:{self._port('files')}"
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                         for s in self._servers.values()]  # fmt: skip

    def _port(self, role: str) -> int:
        return int(self._servers[role].server_address[1])

    def __enter__(self) -> UsgsFake:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()

    # -- what tests look at ---------------------------------------------------------------------
    def endpoints(self) -> dict[str, str]:
        return {"usgs_m2m_url": self.m2m_url}

    def calls(self, endpoint: str | None = None) -> list[Seen]:
        return [s for s in self.seen if s.server == "m2m" and (endpoint is None or s.endpoint == endpoint)]

    def downloads_seen(self) -> list[Seen]:
        return [s for s in self.seen if s.server in ("dds", "files")]

    def fetched_files(self) -> list[str]:
        return sorted(s.path.rsplit("/", 1)[-1] for s in self.seen if s.server == "files")

    def expire_keys(self) -> None:
        """Every API key handed out so far is expired from now on (AUTH_EXPIRED)."""
        with self._lock:
            self.expired |= set(self.keys)

    def scene(self, display_id: str) -> dict[str, Any]:
        return next(s for s in self.scenes if s["displayId"] == display_id)

    # -- dispatch -------------------------------------------------------------------------------
    def dispatch(self, handler: _Handler, method: str) -> None:
        role = handler.server.role  # type: ignore[attr-defined]
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        seen = Seen(role, method, urlsplit(handler.path).path, {k.lower(): v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.seen.append(seen)
        if role == "dds":
            return self._staging(handler, seen)
        if role == "files":
            return self._file(handler, seen)
        if not seen.path.startswith(API_PATH + "/"):
            return handler.reply(404, "<html><body>Not Found</body></html>", "text/html")
        handler.reply(200, json.dumps(self._m2m(seen)))

    def _envelope(self, data: Any, code: str | None = None, message: str | None = None) -> dict[str, Any]:
        return {"requestId": 1000000 + len(self.seen), "version": "stable", "sessionId": 2000001, "data": data,
                "errorCode": code, "errorMessage": message}  # fmt: skip

    def _m2m(self, seen: Seen) -> dict[str, Any]:
        endpoint, body = seen.endpoint, seen.body if isinstance(seen.body, dict) else {}
        if endpoint == "login":
            return load("usgs_m2m", "12_transcribed_error_not_found_invalid_endpoint_login.json")
        if endpoint == "login-token":
            if body.get("username") != self.username or body.get("token") != self.token:
                return load("usgs_m2m", "11_reconstructed_error_auth_invalid.json")
            if self.username in self.no_access:
                return load("usgs_m2m", "13_transcribed_error_unauthorized_user.json")
            key = "CANARY-APIKEY-" + secrets.token_hex(16)
            with self._lock:
                self.keys[key] = self.username
            return self._envelope(key)
        key = seen.headers.get("x-auth-token", "")
        if key in self.expired:
            return self._envelope(None, "AUTH_EXPIRED", "API key has expired")
        user = self.keys.get(key)
        if user is None:
            return load("usgs_m2m", "15_reconstructed_error_auth_key_invalid.json")
        with self._lock:
            if self._busy.get(user):
                self.rate_limited += 1
                return self._envelope(None, "RATE_LIMIT_USER", "Each user is limited to one request at a time")
            self._busy[user] = 1
        try:
            if self.latency:
                time.sleep(self.latency)
            return self._endpoint(endpoint, body, key)
        finally:
            with self._lock:
                self._busy[user] = 0

    def _endpoint(self, endpoint: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        if endpoint == "logout":
            with self._lock:
                self.keys.pop(key, None)
            return load("usgs_m2m", "18_reconstructed_logout_ok.json")
        if endpoint == "scene-search":
            return self._search(body)
        if endpoint == "download-options":
            return self._envelope([o for e in body.get("entityIds") or [] for o in self._options(e)])
        if endpoint == "download-request":
            return self._request(body)
        if endpoint == "download-retrieve":
            return self._retrieve(body.get("label"))
        if endpoint == "download-order-remove":
            with self._lock:
                for download_id in [d for d, v in self.downloads.items() if v.label == body.get("label")]:
                    del self.downloads[download_id]
            return self._envelope(None)
        return self._envelope(None, "NOT_FOUND", "Invalid Endpoint")

    # -- search ---------------------------------------------------------------------------------
    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        dataset = body.get("datasetName")
        if dataset not in DATASET_OF.values():
            return self._envelope(None, "DATASET_INVALID", f"Invalid dataset name: {dataset}")
        matches = [s for s in self.scenes if DATASET_OF[s["displayId"][:4]] == dataset and self._matches(s, body.get("sceneFilter") or {})]
        if not matches:
            return load("usgs_m2m", "16_reconstructed_scene_search_empty.json")
        start, size = int(body.get("startingNumber") or 1), int(body.get("maxResults") or 100)
        page = matches[start - 1 : start - 1 + size]
        total = len(matches)
        following = start + len(page)
        data = {"results": page, "recordsReturned": len(page), "totalHits": total, "isCustomized": False, "numExcluded": 0,
                "startingNumber": start, "nextRecord": following if following <= total else total}  # fmt: skip
        return self._envelope(data)

    @staticmethod
    def _matches(scene: dict[str, Any], f: dict[str, Any]) -> bool:
        spatial = f.get("spatialFilter")
        if spatial:
            if spatial["filterType"].lower() == "geojson":
                area = shape(spatial["geoJson"])
            else:
                low, high = spatial["lowerLeft"], spatial["upperRight"]
                area = box(low["longitude"], low["latitude"], high["longitude"], high["latitude"])
            if not shape(scene["spatialCoverage"]).intersects(area):
                return False
        day = scene["temporalCoverage"]["startDate"][:10]
        acquisition = f.get("acquisitionFilter")
        if acquisition and not acquisition["start"] <= day <= acquisition["end"]:
            return False
        ingest = f.get("ingestFilter")
        if ingest and not ingest["start"] <= scene["publishDate"][:10] <= ingest["end"]:
            return False
        cloud = f.get("cloudCoverFilter")
        if cloud and not cloud["min"] <= float(scene["cloudCover"]) <= cloud["max"]:
            return False
        return True

    # -- downloads ------------------------------------------------------------------------------
    def _options(self, entity_id: str) -> list[dict[str, Any]]:
        scene = next((s for s in self.scenes if s["entityId"] == entity_id), None)
        return [] if scene is None else c2_download_options(scene)

    def _filename(self, entity_id: str) -> str | None:
        for scene in self.scenes:
            if scene["entityId"] == entity_id:
                return f"{scene['displayId']}.tar"
            if entity_id.endswith("_TIF") and scene["displayId"] in entity_id:
                return entity_id.split("_", 1)[1][:-4] + ".TIF"
        return None

    def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        label = str(body.get("label") or "")
        if len(label) > 50:
            return self._envelope(None, "INPUT_INVALID", "label must be 50 characters or fewer")
        with self._lock:
            self.requests_made += 1
            if self.requests_made > self.download_quota:
                return load("usgs_m2m", "14_reconstructed_error_rate_limit_user_dl.json")
            answer: dict[str, Any] = {"availableDownloads": [], "duplicateProducts": [], "preparingDownloads": [], "failed": [],
                                      "newRecords": {}, "numInvalidScenes": 0}  # fmt: skip
            duplicates: dict[str, str] = {}
            for wanted in body.get("downloads") or []:
                entity, product = wanted.get("entityId"), wanted.get("productId")
                filename = self._filename(str(entity))
                if filename is None:
                    answer["failed"].append({"entityId": entity, "productId": product, "errorMessage": "Invalid scene"})
                    answer["numInvalidScenes"] += 1
                    continue
                earlier = next((d for d in self.downloads.values() if d.entity_id == entity and d.product_id == product), None)
                if earlier is not None:
                    duplicates[str(product)] = earlier.label
                    continue
                download = Download(next(self._ids), str(entity), str(product), label, filename)
                self.downloads[download.download_id] = download
                answer["newRecords"][str(download.download_id)] = label
                item = {"downloadId": download.download_id, "eulaCode": None, "url": self._url(download)}
                (answer["availableDownloads"] if self.prepare_polls == 0 else answer["preparingDownloads"]).append(item)
            if duplicates:
                answer["duplicateProducts"] = duplicates if self.duplicate_shape == "map" else list(duplicates)
        return self._envelope(answer)

    def _url(self, download: Download) -> str:
        return f"{self.dds_url}/download-staging/{download.download_id}-{secrets.token_hex(4)}"

    def _retrieve(self, label: str | None) -> dict[str, Any]:
        available, requested = [], []
        with self._lock:
            for download in self.downloads.values():
                if label and download.label != label:
                    continue
                download.polls += 1
                item = {"downloadId": download.download_id, "entityId": download.entity_id, "eulaCode": None,
                        "displayId": download.filename, "label": download.label}  # fmt: skip
                if download.polls > self.prepare_polls:
                    available.append({**item, "url": self._url(download), "statusText": "Available"})
                else:
                    requested.append({**item, "url": None, "statusText": "Preparing"})
        return self._envelope({"available": available, "requested": requested, "queueSize": len(requested),
                               "eulas": []})  # fmt: skip

    # -- download hosts -------------------------------------------------------------------------
    def _staging(self, handler: _Handler, seen: Seen) -> None:
        if not seen.path.startswith("/download-staging/"):
            return handler.reply(404, b"not found", "text/plain")
        download_id = int(seen.path.rsplit("/", 1)[-1].split("-")[0])
        download = self.downloads.get(download_id)
        if download is None:
            return handler.reply(404, b"this download is no longer staged", "text/plain")
        handler.reply(302, b"", "text/plain", {"Location": f"{self.files_url}/files/{download.filename}"})

    def _file(self, handler: _Handler, seen: Seen) -> None:
        name = seen.path.rsplit("/", 1)[-1]
        if name.endswith(".tar"):
            data = bundle_tar(name[:-4])
            kind = "application/x-tar"
        else:
            data, kind = file_bytes(name), "image/tiff"
        handler.reply(200, data, kind, {"Content-Disposition": f'attachment; filename="{name}"'})


def settings_for(fake: UsgsFake, tmp_path: Any, **overrides: Any) -> Any:
    """Settings pointing at the fake, with a catalog and archive under ``tmp_path``."""
    from eoharvest.entrypoints.config import load_settings

    values = {**fake.endpoints(), "catalog_path": tmp_path / "catalog.db", "directory": tmp_path / "archive",
              "max_retries": 2, "retry_max_seconds": 5, **overrides}  # fmt: skip
    return load_settings(values, environ={})


__all__ = ["UsgsFake", "bundle_tar", "c2_download_options", "c2_scene", "default_scenes", "file_bytes", "settings_for"]


def usgs_cli_env(fake: UsgsFake, tmp_path: Any, monkeypatch: Any) -> dict[str, str]:
    """A clean eoharvest environment (no EOHARVEST_* of the caller) pointed at ``fake``, with
    its account, a catalog and an archive folder under ``tmp_path``; returns what it set."""
    for key in [k for k in os.environ if k.startswith("EOHARVEST_")]:
        monkeypatch.delenv(key)
    values = {"EOHARVEST_USGS_M2M_URL": fake.m2m_url, "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
              "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"), "HOME": str(tmp_path),
              "XDG_CONFIG_HOME": str(tmp_path / "config"), "EOHARVEST_USGS_USERNAME": fake.username,
              "EOHARVEST_USGS_TOKEN": fake.token}  # fmt: skip
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
