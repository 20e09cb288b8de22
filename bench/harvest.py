"""Harvest benchmark: `eoharvest harvest --no-download` beside pystac-client on one loopback STAC API.

    .venv/bin/python bench/harvest.py [--items 100000] [--page-size 100] [--rounds 5]
    bash scripts/bench.sh harvest [...]        # installs the `bench` extra (pystac-client) first

A server process serves an Earth Search v1 API built from the recorded responses in the corpus
(landing page, collections, and one recorded sentinel-2-c1-l2a item cloned ``--items`` times with
distinct ids), paging with stac-server's POST ``next`` tokens. Each round runs, in alternating
order, in fresh subprocesses:

* the baseline: pystac-client's ``Client.open(url).search(..., limit=page_size).items_as_dicts()``,
  counting items (parsed JSON, nothing else);
* eoharvest: the CLI's ``harvest --provider stac --no-download`` into a new catalog, i.e. every
  item mapped to a Scene and committed to the SpatiaLite catalog page by page.

It prints the medians of items/s, their ratio (target >= 0.5), the same ratio by CPU seconds of
the two client processes (steadier on a shared machine) and eoharvest's peak RSS (VmHWM;
target <= 150 MiB at 100k items, independent of the number of items). ``--items`` several
comma-separated sizes measure that independence.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from corpus import load  # noqa: E402  (reads ../shared/corpus or $EOHARVEST_CORPUS in place)

ES_ROOT = "https://earth-search.aws.element84.com/v1"
TEMPLATE_ID = "S2B_T24MXV_20250731T130245_L2A"
TEMPLATE_FILES = ("02_search_cql2_cloud_cover_page1.json", "03_search_page2_via_next_token.json")
COLLECTION = "sentinel-2-c1-l2a"

# Peak RSS from VmHWM: ru_maxrss survives execve on Linux and would report the parent's size.
HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"

BASELINE_CHILD = r"""
import json, sys, time
t0 = time.monotonic()
from pystac_client import Client
url, page_size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
search = Client.open(url).search(collections=[%r], limit=page_size)
count = sum(1 for _ in search.items_as_dicts())
took = time.monotonic() - t0
json.dump({"items": count, "seconds": took, "rss_kib": %s}, open(out, "w"))
""" % (COLLECTION, HWM)

EOHARVEST_CHILD = r"""
import json, sys, time
t0 = time.monotonic()
from eoharvest.entrypoints.cli import main
url, catalog, out = sys.argv[1], sys.argv[2], sys.argv[3]
code = main(["--catalog", catalog, "harvest", "--provider", "stac", "--stac-url", url, "--platform", "Sentinel-2",
             "--aoi", "-180,-90,180,90", "--no-download", "--json"])
took = time.monotonic() - t0
json.dump({"code": code, "seconds": took, "rss_kib": %s}, open(out, "w"))
""" % HWM


# -- the server --------------------------------------------------------------------------------
def _template(base: str) -> tuple[str, str]:
    """The recorded item as JSON text with its id replaced by a placeholder, and the landing and
    collections texts, all pointing at ``base``."""
    for name in TEMPLATE_FILES:
        for item in load("stac_earth_search", name)["features"]:
            if item["id"] == TEMPLATE_ID:
                text = json.dumps(item).replace(ES_ROOT, base).replace(TEMPLATE_ID, "@ID@")
                return text, base
    raise LookupError(f"{TEMPLATE_ID} is not in the recorded corpus")


def serve(port_queue: multiprocessing.Queue, items: int, default_limit: int) -> None:  # pragma: no cover - bench
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    item_text, _ = _template(base)
    landing = json.dumps(load("stac_earth_search", "01_landing_v1.json")).replace(ES_ROOT, base).encode()
    collections = json.dumps(load("stac_earth_search", "09_collections.json")).replace(ES_ROOT, base).encode()

    def page(body: dict) -> bytes:
        limit = int(body.get("limit") or default_limit)
        start = int(body.get("next") or 0)
        stop = min(start + limit, items)
        features = ",".join(item_text.replace("@ID@", f"S2B_T24MXV_{i:07d}_L2A") for i in range(start, stop))
        links = [{"rel": "root", "href": base, "type": "application/json"}]
        if stop < items:  # stac-server's shape: POST, merge false, only the token in the body
            links.append({"rel": "next", "method": "POST", "href": f"{base}/search", "merge": False,
                          "body": {"next": str(stop)}, "type": "application/geo+json"})
        head = {"type": "FeatureCollection", "numberMatched": items, "numberReturned": stop - start,
                "context": {"limit": limit, "matched": items, "returned": stop - start}, "links": links}
        text = json.dumps(head)
        return (text[:-1] + ', "features": [' + features + "]}").encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, body: bytes, kind: str = "application/json", status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            if path == "/v1":
                self._send(landing)
            elif path == "/v1/collections":
                self._send(collections)
            else:
                self._send(b'{"code":"NotFound","description":"Not Found"}', status=404)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.split("?")[0] == "/v1/search":
                self._send(page(body), "application/geo+json")
            else:
                self._send(b'{"code":"NotFound","description":"Not Found"}', status=404)

    server.RequestHandlerClass = Handler
    server.daemon_threads = True
    port_queue.put(base)
    server.serve_forever()


def load_average() -> str:
    """The 1/5/15-minute load averages: rates mean little on a busy machine."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# -- the clients -------------------------------------------------------------------------------
def run_child(code: str, *args: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    try:
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([sys.executable, "-c", code, *args, path], stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                raise SystemExit(f"benchmark child failed ({proc.returncode}):\n{err.read()[-3000:].decode()}")
        result = json.loads(Path(path).read_text())
        # CPU seconds of the client process (all threads): steadier than wall time on a busy machine.
        result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
        return result
    finally:
        os.unlink(path)


def baseline(url: str, page_size: int) -> dict:
    result = run_child(BASELINE_CHILD, url, str(page_size))
    result["items_s"] = result["items"] / result["seconds"]
    return result


def eoharvest(url: str, items: int, workdir: Path) -> dict:
    catalog = workdir / f"catalog-{time.monotonic_ns()}.db"
    result = run_child(EOHARVEST_CHILD, url, str(catalog))
    if result["code"] != 0:
        raise SystemExit(f"eoharvest harvest exited {result['code']}")
    result["items"] = items
    result["items_s"] = items / result["seconds"]
    for leftover in workdir.glob(catalog.name + "*"):
        leftover.unlink()
    return result


def measure(items: int, page_size: int, rounds: int, workdir: Path) -> dict:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(queue, items, page_size), daemon=True)
    server.start()
    try:
        url = queue.get(timeout=60)
        runs: dict[str, list[dict]] = {"baseline": [], "eoharvest": []}
        for round_ in range(rounds):
            order = ("baseline", "eoharvest") if round_ % 2 == 0 else ("eoharvest", "baseline")
            for name in order:
                runs[name].append(baseline(url, page_size) if name == "baseline" else eoharvest(url, items, workdir))
    finally:
        server.terminate()
        server.join(10)
    if any(r["items"] != items for r in runs["baseline"]):
        raise SystemExit(f"the baseline saw {[r['items'] for r in runs['baseline']]} items, expected {items}")
    base = statistics.median(r["items_s"] for r in runs["baseline"])
    ours = statistics.median(r["items_s"] for r in runs["eoharvest"])
    base_cpu = statistics.median(r["cpu_seconds"] for r in runs["baseline"])
    ours_cpu = statistics.median(r["cpu_seconds"] for r in runs["eoharvest"])
    return {
        "items": items,
        "page_size": page_size,
        "rounds": rounds,
        "baseline_items_s": round(base),
        "eoharvest_items_s": round(ours),
        "ratio": round(ours / base, 3),
        "baseline_cpu_s": round(base_cpu, 2),
        "eoharvest_cpu_s": round(ours_cpu, 2),
        "cpu_ratio": round(base_cpu / ours_cpu, 3),
        "eoharvest_peak_rss_mib": round(statistics.median(r["rss_kib"] for r in runs["eoharvest"]) / 1024, 1),
        "baseline_peak_rss_mib": round(statistics.median(r["rss_kib"] for r in runs["baseline"]) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", default="100000", help="items served (comma-separated sizes to compare)")
    parser.add_argument("--page-size", type=int, default=100, help="items per page, for both clients")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs per client (medians are quoted)")
    args = parser.parse_args()
    try:
        import pystac_client  # noqa: F401
    except ImportError:
        sys.exit("the baseline needs pystac-client: bash scripts/bench.sh harvest (or pip install -e '.[bench]')")
    results = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("EOHARVEST_BENCH_DIR")) as tmp:
        for items in (int(n) for n in args.items.split(",")):
            result = measure(items, args.page_size, args.rounds, Path(tmp))
            results.append(result)
            print(
                f"{items} items, pages of {args.page_size}, median of {args.rounds}: pystac-client "
                f"items_as_dicts {result['baseline_items_s']} items/s, eoharvest harvest --no-download "
                f"{result['eoharvest_items_s']} items/s; ratio {result['ratio']} (target >= 0.5; by CPU seconds "
                f"{result['baseline_cpu_s']} vs {result['eoharvest_cpu_s']}: {result['cpu_ratio']}); eoharvest "
                f"peak RSS {result['eoharvest_peak_rss_mib']} MiB (target <= 150; pystac-client "
                f"{result['baseline_peak_rss_mib']} MiB)   [load {load_average()}]",
                flush=True,
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
