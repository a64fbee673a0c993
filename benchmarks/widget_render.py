"""The bundled widget in headless Chromium: first render, drag and pan frame times, bytes per update.

No Jupyter: a small harness page (``benchmarks/widget_harness/``) loads
``plsd_widget/static/widget.js`` as an ES module and mounts its ``render({model, el})``
on a mock anywidget model (``mock_model.js``: get/set/on/off/send/save_changes, with a
byte ledger) whose traits mirror ``PLSDWidget``'s names and types. Python serves the
harness, the bundle and synthetic data (10 Gaussian blobs, seeded) over ``http.server``
on 127.0.0.1 and drives Debian's Chromium with Playwright (real mouse events).

Measured per size n (default 10k, 100k, 1M points):

* first render: ``render()`` called -> root ``data-ready="true"`` (the first regl draw
  resolved), and -> the next painted frame; a fresh page per repeat.
* Move-mode drag of 10k selected points (selection pushed through the selection trait as
  the kernel would): press on the overlay, 60 moves, release. Two ways:
  - paced: after each ``mouse.move`` wait until that move's frame is painted; per move,
    *handler* = JS time from a capture listener on window (before every widget listener)
    to bubble listeners on window (after them), *frame* = from the same start to a
    MessageChannel task posted from the next requestAnimationFrame callback, i.e. after
    that frame's rAF callbacks (regl draws there), style, layout and paint of the 2D
    overlay on the main thread. GPU-process work (WebGL / raster in SwiftShader) is not
    in it; the burst numbers are.
  - burst: 60 moves back to back (each ``mouse.move`` awaits Chromium's ack only) with a
    rAF loop recording frame timestamps: median / p95 interval between frames during the drag.
  Then the same after one committed move (10k edited points: rings + arrows drawn too).
* Pan (regl-scatterplot pan-zoom, the overlay redrawn on every view change): same two ways.
* Bytes, from what the view actually sends / receives (the mock's ledger), plus the
  contours packet (``widget/outlines.py``) of ``class_contours`` on the same points.

Usage: ``python benchmarks/widget_render.py [--sizes 10000 100000 1000000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import http.server
import json
import os
import platform
import subprocess
import threading
import time
from pathlib import Path

import base64

import numpy as np

from plsd_widget.palette import class_colors
from plsd_widget.widget.binary import array_to_bytes
from plsd_widget.widget.binary import Buffer
from plsd_widget.widget.geometry import class_contours, square_bounds
from plsd_widget.widget.outlines import encode_outlines
from plsd_widget.widget.session_widget import PLSDWidget
from plsd_widget.widget.targets_sync import TargetsSync

ROOT = Path(__file__).resolve().parents[1]
HARNESS = Path(__file__).resolve().parent / "widget_harness"
STATIC = ROOT / "plsd_widget" / "static"
# As tests/browser/jupyter.py CHROMIUM_ARGS (WebGL through SwiftShader: a CPU lower bound).
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
    "--disable-gpu-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
N_CLASSES = 10
N_SELECTED = 10_000
N_MOVES = 60
# The harness page (served from here: *.html is git-ignored in this repository).
HARNESS_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>plsd_widget bench</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/widget.css"></head>
<body><div id="host" style="width: 1000px"></div><div id="host2" style="width: 1000px"></div>
<script type="module" src="/harness/bench.js"></script></body></html>
"""


# ---- synthetic data ------------------------------------------------------------------------
def widget_traits() -> dict:
    """PLSDWidget's own synced traits: name -> {"binary": bool, "default": JSON value}.

    Read from the class, so the mock model always has exactly the traits the view can read.
    """
    out = {}
    for name, trait in PLSDWidget.class_own_traits(sync=True).items():
        binary = isinstance(trait, Buffer)
        out[name] = {"binary": binary, "default": None if binary else trait.default()}
    return out


def make_data(n: int, seed: int = 0) -> dict:
    """10 Gaussian blobs; every array as the bytes PLSDWidget would put in its traits."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-40, 40, size=(N_CLASSES, 2))
    scales = rng.uniform(1.5, 4.0, size=N_CLASSES)
    labels = rng.integers(0, N_CLASSES, n).astype(np.uint8)
    positions = (centres[labels] + rng.normal(size=(n, 2)) * scales[labels, None]).astype(np.float32)
    predictions = np.where(rng.random(n) < 0.1, rng.integers(0, N_CLASSES, n), labels).astype(np.uint8)
    positions2 = positions + rng.normal(scale=0.3, size=positions.shape).astype(np.float32)  # "next epoch"
    targets = np.full((n, 2), np.nan, np.float32)  # no edits yet
    first = TargetsSync().update(targets)  # what PLSDWidget puts in its traits at start
    t = time.perf_counter()
    vertices, offsets, classes = class_contours(positions, labels)
    contour_s = time.perf_counter() - t
    # 10k selected: class 0 first (one blob), topped up in index order when the class is smaller.
    order = np.concatenate([np.flatnonzero(labels == 0), np.flatnonzero(labels != 0)])
    selection = np.sort(order[:min(N_SELECTED, n)]).astype(np.uint32)
    buffers = {
        "positions": array_to_bytes(positions, np.float32),
        "positions2": array_to_bytes(positions2, np.float32),
        "labels": array_to_bytes(labels, np.uint8),
        "predictions": array_to_bytes(predictions, np.uint8),
        "targets": first["targets"],
        "contours": encode_outlines(vertices, offsets, classes),
        "selection10k": array_to_bytes(selection, np.uint32),
    }
    meta = {"n": n, "label_dtype": "uint8", "class_names": [f"class {c}" for c in range(N_CLASSES)],
            "colors": class_colors(N_CLASSES), "bounds": square_bounds(positions),
            "n_contour_lines": int(len(classes)), "n_contour_vertices": int(len(vertices)),
            "contour_s": contour_s, "n_selected": int(len(selection)), "traits": widget_traits(),
            "targets_version": first["targets_version"]}
    buffers["meta.json"] = json.dumps(meta).encode()
    return buffers


# ---- the mock kernel's edit state ------------------------------------------------------------
class MockKernel:
    """Edit targets of one size as PLSDWidget keeps them: the real ``TargetsSync`` decides what is sent.

    The harness posts the view's ``move`` messages here (and asks for undo / resync); the
    answer is the trait update PLSDWidget would push, which the mock model then applies.
    """

    def __init__(self, n: int):
        self.targets = np.full((n, 2), np.nan, np.float32)
        self.sync = TargetsSync()
        self.sync.update(self.targets)
        self.history = []

    def handle(self, action: str, body: bytes) -> dict:
        if action == "move":
            k = int.from_bytes(body[:4], "little")
            indices = np.frombuffer(body[4:4 + 4 * k], "<u4")
            moved = np.frombuffer(body[4 + 4 * k:], "<f4").reshape(k, 2)
            self.history.append(self.targets.copy())
            self.targets[indices] = moved
            update = self.sync.update(self.targets)
        elif action == "undo":
            self.targets = self.history.pop()
            update = self.sync.update(self.targets)
        elif action == "resync":
            update = self.sync.full()
        else:
            raise ValueError(action)
        update = {k: {"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v for k, v in update.items()}
        return update | {"can_undo": bool(self.history)}


# ---- server ---------------------------------------------------------------------------------
def serve(datasets: dict, bundle: Path):
    types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".json": "application/json"}
    kernels = {n: MockKernel(n) for n in datasets}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            parts = self.path.strip("/").split("/")
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if len(parts) != 3 or parts[0] != "kernel" or not parts[1].isdigit() or int(parts[1]) not in kernels:
                self.send_error(404)
                return
            reply = json.dumps(kernels[int(parts[1])].handle(parts[2], body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_GET(self):  # noqa: N802 (http.server's name)
            parts = self.path.split("?")[0].strip("/").split("/")
            body, kind = None, "application/octet-stream"
            if parts == ["harness", "index.html"]:
                body, kind = HARNESS_PAGE, "text/html"
            elif parts[0] == "data" and len(parts) == 3 and parts[1].isdigit():
                body = datasets.get(int(parts[1]), {}).get(parts[2])
                kind = types.get(Path(parts[2]).suffix, kind)
            elif parts[0] in ("harness", "static") and len(parts) == 2:
                path = (HARNESS if parts[0] == "harness" else bundle) / parts[1]
                if path.is_file():
                    body, kind = path.read_bytes(), types.get(path.suffix, kind)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# ---- measurements ------------------------------------------------------------------------
def stats(values) -> dict:
    v = np.asarray([x for x in values if x == x], float)  # drop NaN
    if v.size == 0:
        return {"median": float("nan"), "p95": float("nan"), "count": 0}
    return {"median": float(np.median(v)), "p95": float(np.percentile(v, 95)), "count": int(v.size)}


def open_widget(page, url: str, n: int) -> dict:
    page.goto(f"{url}/harness/index.html")
    page.wait_for_function("window.benchReady === true")
    page.evaluate("n => bench.load(n)", n)
    return page.evaluate("bench.mount()")


def gesture(page, start, paced: bool) -> dict:
    """Press at ``start``, N_MOVES moves, release; per-move probe records and frame intervals."""
    x0, y0 = start
    page.mouse.move(x0, y0)
    page.evaluate("bench.settled()")
    page.mouse.down()
    page.evaluate("bench.resetProbes(); bench.startFrames()")
    t = time.perf_counter()
    for i in range(1, N_MOVES + 1):
        page.mouse.move(x0 + 3 * i, y0 + 20 * np.sin(i / 6))
        if paced:
            page.evaluate("bench.settled()")
    wall = time.perf_counter() - t
    page.evaluate("bench.settled()")
    records = page.evaluate("bench.records()")
    page.mouse.up()
    page.evaluate("bench.settled()")
    frame_ts = page.evaluate("bench.stopFrames()")
    first = min(r["start"] for r in records) if records else 0
    last = max(r["start"] + r["painted"] for r in records if r["painted"] == r["painted"]) if records else 0
    during = [t for t in frame_ts if first <= t <= last + 1]
    return {"handler": stats(r["handler"] for r in records), "frame": stats(r["painted"] for r in records),
            "frame_interval": stats(np.diff(during)) if len(during) > 1 else stats([]),
            "moves_handled": len(records), "wall_s_per_move": wall / N_MOVES}


def measure_size(browser, url: str, n: int, repeats: int) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(300_000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    out = {"n": n, "load_before": os.getloadavg()[0]}
    renders = [open_widget(page, url, n) for _ in range(repeats)]  # the last page stays open
    out["render"] = {key: stats(r[key] for r in renders) for key in renders[0]}
    out["render_runs"] = renders
    page.evaluate("bench.installProbes()")
    out["idle_frame_interval"] = page.evaluate("bench.idleFrames()")

    sel = page.evaluate("bench.selectFromKernel()")
    out["select_from_kernel_ms"] = sel["handler_ms"]
    out["n_selected"] = sel["n_selected"]
    page.evaluate("bench.clearLedger()")
    invert = page.evaluate("""() => {
        const b = document.querySelector('[data-testid="invert-selection"]');
        const t0 = performance.now(); b.click(); const t1 = performance.now(); b.click();
        return [t1 - t0, performance.now() - t1]; }""")
    out["invert_ms"] = invert
    ledger = page.evaluate("bench.ledger()")
    out["selection_msgs"] = ledger  # invert (n - 10k indices), invert again (10k)
    page.evaluate("bench.clearLedger()")

    box = page.evaluate("bench.overlayBox()")
    centre = (box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.click('[data-testid="mode-move"]')
    out["drag_paced"] = gesture(page, centre, paced=True)
    out["drag_burst"] = gesture(page, centre, paced=False)
    out["move_msgs"] = page.evaluate("bench.ledger()")
    page.evaluate("bench.clearLedger()")

    page.click('[data-testid="mode-pan"]')
    out["pan_paced"] = gesture(page, centre, paced=True)
    out["pan_burst"] = gesture(page, centre, paced=False)
    page.click('[data-testid="show-contours"]')  # contours off: what the overlay adds to a pan frame
    out["pan_nocontours_burst"] = gesture(page, centre, paced=False)
    page.click('[data-testid="show-contours"]')

    # One committed move, answered as PLSDWidget does (the real TargetsSync decides: a delta);
    # then drag again with 10k edited points drawn, undo, and a second view of the same model.
    page.evaluate("bench.enableKernelEcho(); bench.clearLedger()")
    page.click('[data-testid="mode-move"]')
    gesture(page, centre, paced=False)
    page.evaluate("bench.echoDone()")
    out["edit_echo_msgs"] = page.evaluate("bench.ledger()")
    out["edit_echo_handler_ms"] = page.evaluate("bench.lastEchoMs")
    out["n_edited"] = int(page.evaluate("bench.dataset()").get("nEdited", 0))
    page.evaluate("bench.clearLedger()")
    out["drag_edited_paced"] = gesture(page, centre, paced=True)
    page.evaluate("bench.echoDone()")
    page.evaluate("bench.clearLedger()")
    page.evaluate("bench.kernelAction('undo')")
    out["undo_msgs"] = page.evaluate("bench.ledger()")
    out["undo_handler_ms"] = page.evaluate("bench.lastEchoMs")
    page.evaluate("bench.clearLedger()")
    out["second_view"] = page.evaluate("bench.mountSecond()")
    out["second_view_msgs"] = page.evaluate("bench.ledger()")
    if out["second_view"]["first"] != out["second_view"]["second"]:
        errors.append(f"the second view's targets differ from the first's: {out['second_view']}")
    page.evaluate("bench.clearLedger()")

    out["positions_update"] = page.evaluate("bench.positionsUpdate()")
    out["positions_msgs"] = page.evaluate("bench.ledger()")
    page.wait_for_timeout(500)  # let the 350 ms transition finish before the probe
    out["overlay_probe"] = page.evaluate("([k, n]) => bench.overlayProbe(k, n)", [N_SELECTED, n])
    out["unknown_traits"] = page.evaluate("bench.unknownTraits()")
    out["load_after"] = os.getloadavg()[0]
    out["errors"] = errors
    context.close()
    return out


# ---- report ---------------------------------------------------------------------------------
def fmt_bytes(b: float) -> str:
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if b >= size:
            return f"{b / size:.2f} {unit}"
    return f"{b:.0f} B"


def kernel_bytes(msgs) -> str:
    """Bytes the kernel pushed to the view (binary + JSON), and which traits."""
    pushed = [m for m in msgs if m["direction"] == "kernel->view"]
    names = sorted({name for m in pushed for name in m["names"]})
    return f"{fmt_bytes(sum(m['binary'] + m['json'] for m in pushed))} ({', '.join(names)})"


def report(results: list[dict], data_meta: dict) -> str:
    lines = []
    add = lines.append
    add("| n | first render: ready (painted) ms | drag frame ms median / p95 | drag frame interval ms median / p95 "
        "| drag (10k edited) frame ms median / p95 | pan frame ms median / p95 | pan frame interval ms median / p95 | pan, contours off: interval ms median / p95 |")
    add("|---|---|---|---|---|---|---|---|")
    for r in results:
        rd = r["render"]
        dp, db, de, pp, pb = r["drag_paced"], r["drag_burst"], r["drag_edited_paced"], r["pan_paced"], r["pan_burst"]
        pn = r.get("pan_nocontours_burst", {"frame_interval": stats([])})
        add(f"| {r['n']:,} | {rd['ready_ms']['median']:.0f} ({rd['painted_ms']['median']:.0f}) "
            f"| {dp['frame']['median']:.1f} / {dp['frame']['p95']:.1f} "
            f"| {db['frame_interval']['median']:.1f} / {db['frame_interval']['p95']:.1f} "
            f"| {de['frame']['median']:.1f} / {de['frame']['p95']:.1f} "
            f"| {pp['frame']['median']:.1f} / {pp['frame']['p95']:.1f} "
            f"| {pb['frame_interval']['median']:.1f} / {pb['frame_interval']['p95']:.1f} "
            f"| {pn['frame_interval']['median']:.1f} / {pn['frame_interval']['p95']:.1f} |")
    add("")
    add("| n | drag handler (JS) ms median | pan handler ms median | moves handled paced / burst (of 60) "
        "| select 10k from kernel ms | invert ms | positions update handler ms | idle frame interval ms "
        "| Playwright wall per move s: drag / pan | load 1-min before→after |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        add(f"| {r['n']:,} | {r['drag_paced']['handler']['median']:.2f} | {r['pan_paced']['handler']['median']:.2f} "
            f"| {r['drag_paced']['moves_handled']} / {r['drag_burst']['moves_handled']} "
            f"| {r['select_from_kernel_ms']:.1f} | {r['invert_ms'][0]:.0f} "
            f"| {r['positions_update']['handler_ms']:.1f} | {r['idle_frame_interval']['median']:.1f} "
            f"| {r['drag_burst']['wall_s_per_move']:.2f} / {r['pan_burst']['wall_s_per_move']:.2f} "
            f"| {r['load_before']:.1f}→{r['load_after']:.1f} |")
    add("")
    add("Bytes (binary + JSON) per update, from the mock model's ledger:")
    add("")
    add("| n | positions (n·8) | _sync_positions batch (positions + predictions + contours) | contours "
        "(one outlines packet) | selection of 10k, view→kernel | move of 10k, view→kernel "
        "| edit of 10k kernel→view | undo kernel→view | second view after edits: resync kernel→view |")
    add("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        meta = data_meta[r["n"]]
        sel = r["selection_msgs"][-1]
        move = [m for m in r["move_msgs"] if "move" in m["names"]]
        pos_batch = r["positions_msgs"][0]
        contour = meta["contour_bytes"]
        add(f"| {r['n']:,} | {fmt_bytes(meta['positions_bytes'])} | {fmt_bytes(pos_batch['binary'] + pos_batch['json'])} "
            f"| {fmt_bytes(contour)} ({meta['n_contour_lines']} lines, {meta['n_contour_vertices']:,} vertices) "
            f"| {fmt_bytes(sel['binary'] + sel['json'])} ({sel['binary'] / max(1, r['n_selected']):.1f} B/index) "
            f"| {fmt_bytes(move[0]['binary'] + move[0]['json']) if move else '-'} "
            f"({'+'.join(str(b) for b in move[0]['buffers']) if move else ''} B buffers) "
            f"| {kernel_bytes(r['edit_echo_msgs'])} | {kernel_bytes(r['undo_msgs'])} "
            f"| {kernel_bytes(r['second_view_msgs'])} |")
    add("")
    add("Overlay probe (one drag frame of the 10k-point preview, drawn on a canvas of the overlay's size, "
        "forced to raster; median ms):")
    add("")
    add("| n | per-point arc+fill (as written) | one path per colour | fillRect per colour | sprite drawImage "
        "| O(n) targets scan | per-point arc, CPU canvas (willReadFrequently) |")
    add("|---|---|---|---|---|---|---|")
    for r in results:
        p = r["overlay_probe"]
        add(f"| {r['n']:,} | {p['per_point_arc_ms']:.2f} | {p['one_path_per_colour_ms']:.2f} | {p['fillrect_ms']:.2f} "
            f"| {p['sprite_drawimage_ms']:.3f} | {p['targets_scan_ms']:.2f} | {p['per_point_arc_cpu_canvas_ms']:.2f} |")
    if len(results) > 1:
        add("")
        add("Ratios between consecutive sizes:")
        add("")
        for a, b in zip(results, results[1:]):
            ratio = lambda f: f(b) / f(a) if f(a) else float("nan")  # noqa: E731
            add(f"- {b['n']:,} / {a['n']:,} points ({b['n'] / a['n']:.0f}×): first render "
                f"{ratio(lambda r: r['render']['ready_ms']['median']):.2f}×, drag frame "
                f"{ratio(lambda r: r['drag_paced']['frame']['median']):.2f}×, drag interval "
                f"{ratio(lambda r: r['drag_burst']['frame_interval']['median']):.2f}×, pan frame "
                f"{ratio(lambda r: r['pan_paced']['frame']['median']):.2f}×, pan interval "
                f"{ratio(lambda r: r['pan_burst']['frame_interval']['median']):.2f}×, "
                f"positions bytes {b['n'] / a['n']:.0f}×")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="first-render repeats (fresh page each)")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args()

    if not (STATIC / "widget.js").is_file():
        subprocess.run(["npm", "run", "build"], cwd=ROOT, check=True)
    from playwright.sync_api import sync_playwright

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    datasets, data_meta = {}, {}
    for n in args.sizes:
        datasets[n] = make_data(n)
        meta = json.loads(datasets[n]["meta.json"])
        meta["positions_bytes"] = len(datasets[n]["positions"])
        meta["contour_bytes"] = len(datasets[n]["contours"])
        data_meta[n] = meta
        print(f"n={n:,}: contours {meta['n_contour_lines']} lines / {meta['n_contour_vertices']} vertices "
              f"in {meta['contour_s'] * 1e3:.0f} ms")
    # A snapshot of the bundle, taken next to the trait list, so a rebuild during the run changes nothing.
    bundle = Path(tempfile.mkdtemp(prefix="plsd_bundle_"))
    for name in ("widget.js", "widget.css"):
        shutil.copy2(STATIC / name, bundle / name)
    digest = hashlib.sha256((bundle / "widget.js").read_bytes()).hexdigest()[:12]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"bundle widget.js sha256 {digest}, {(bundle / 'widget.js').stat().st_size:,} B; git HEAD {head}")
    server, url = serve(datasets, bundle)
    results = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=os.environ.get("PLSD_CHROMIUM", "/usr/bin/chromium"),
                                         args=CHROMIUM_ARGS)
            print(f"Chromium {browser.version}")
            for n in args.sizes:
                t = time.perf_counter()
                results.append(measure_size(browser, url, n, args.repeats))
                print(f"n={n:,} measured in {time.perf_counter() - t:.0f} s; page errors: {results[-1]['errors']}; "
                      f"undeclared traits read: {results[-1]['unknown_traits']}")
            browser.close()
    finally:
        server.shutdown()
    if args.json:
        args.json.write_text(json.dumps({"results": results, "data": data_meta}, indent=1))
    print()
    print(report(results, data_meta))


if __name__ == "__main__":
    main()
