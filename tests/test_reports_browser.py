"""report.html opened in a real browser: headless Chromium driven over the DevTools protocol.

Why the DevTools protocol and not ``--dump-dom`` or ``--screenshot``: those flags give the
DOM or a picture, but neither the console nor which images failed to decode. Playwright's
Python package would do it but wants to download its own browser, which cannot happen here;
the protocol is plain JSON over a websocket, so ``websocket-client`` (small, synchronous,
widely used) is all it takes to drive the Chromium that is installed.

Chromium runs with a fresh profile, no network features, on 127.0.0.1 only, and is stopped
in ``finally`` whatever happens.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",  # the browser picks a free port and writes it down
)
TIMEOUT = 60.0  # seconds for the browser to start and the page to load


def _skip_reason() -> str | None:
    if CHROMIUM is None:
        return "chromium is not installed (apt-get install chromium)"
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "websocket-client is not installed (pip install -e '.[test]')"
    return None


if (reason := _skip_reason()) is not None:
    pytest.skip(reason, allow_module_level=True)

import websocket  # noqa: E402  (after the skip: it is optional)


class Page:
    """One browser tab: send DevTools commands, keep the events that arrive meanwhile."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=TIMEOUT, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {TIMEOUT:g} s")
            self.events.append(json.loads(self.ws.recv()))

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser-side errors (failed loads...)."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in (
                "error",
                "assert",
            ):
                out.append("console: " + " ".join(str(a.get("value")) for a in p["args"]))
            elif e.get("method") == "Runtime.exceptionThrown":
                out.append("exception: " + p["exceptionDetails"].get("text", ""))
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append("log: " + p["entry"]["text"])
        return out


@contextmanager
def browser(tmp_path: Path) -> Iterator[Page]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    page = None
    browser_url = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chromium did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        port_line, browser_path = port_file.read_text().split("\n")[:2]
        port = int(port_line)
        browser_url = f"ws://127.0.0.1:{port}{browser_path}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        tab = next(t for t in targets if t["type"] == "page")
        page = Page(tab["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=800,
            deviceScaleFactor=1,
            mobile=False,
        )
        yield page
    finally:
        if page is not None:
            page.ws.close()
        _close(proc, browser_url)


def _close(proc: subprocess.Popen[bytes], browser_url: str | None) -> None:
    """Stop chromium: asked to close over the protocol first, since a terminated chromium
    leaves its singleton socket's directory in the system's temporary directory (one per
    test run); terminated, then killed, if it does not end within 10 s."""
    if browser_url is not None and proc.poll() is None:
        try:
            Page(browser_url).send("Browser.close")
            proc.wait(timeout=10)
        except (OSError, RuntimeError, websocket.WebSocketException, subprocess.TimeoutExpired):
            pass  # (closing while it answers may drop the connection: the wait tells)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def open_page(page: Page, path: Path) -> dict[str, Any]:
    """Load ``path``; return its images (alt, loaded) and a 1280x800 screenshot (PIL)."""
    from PIL import Image

    page.send("Page.navigate", url=path.resolve().as_uri())
    page.wait_for("Page.loadEventFired")
    js = (
        "JSON.stringify(Array.from(document.images).map(i => "
        "({alt: i.alt, loaded: i.complete && i.naturalWidth > 0})))"
    )
    images = json.loads(page.send("Runtime.evaluate", expression=js)["result"]["value"])
    js = (
        "JSON.stringify(Object.fromEntries(['.question', '.verdict', 'table.headline']"
        ".map(s => [s, document.querySelector(s)?.getBoundingClientRect().bottom ?? null])))"
    )
    bottoms = json.loads(page.send("Runtime.evaluate", expression=js)["result"]["value"])
    shot = page.send("Page.captureScreenshot", format="png")
    screen = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("L")
    return {"images": images, "screen": screen, "bottoms": bottoms}


def _ink(screen: Any) -> float:
    """Share of the screenshot's pixels that are not page background."""
    hist = screen.histogram()
    return 1.0 - sum(hist[245:]) / sum(hist)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from activitykit.runner import run_scenario
    from activitykit.scenario import load_scenario

    root = Path(__file__).parents[1]
    overrides = ["duration=1800", "warmup=300"]  # a short run of the tour's scenario
    scenario = load_scenario(root / "scenarios" / "baseline.yaml", overrides)
    out = tmp_path_factory.mktemp("browser") / "run"
    result = run_scenario(scenario, out)
    assert result.report_path is not None
    return result.report_path


def test_report_opens_without_errors_and_every_figure_loads(report: Path, tmp_path: Path):
    from activitykit.reports import load_run
    from activitykit.reports.render import shown_figures

    with browser(tmp_path) as page:
        got = open_page(page, report)
        errors = page.errors()
    assert errors == []
    broken = [i["alt"] for i in got["images"] if not i["loaded"]]
    assert broken == []
    # every figure the run has something to show in, none missing and none twice
    shown = shown_figures(load_run(report.parent))
    assert sorted(i["alt"] for i in got["images"]) == sorted(shown)
    assert got["screen"].size == (1280, 800)
    assert _ink(got["screen"]) > 0.02  # the first screen shows something, not a blank page
    # the question, the verdict and the headline figures are all in the first screen
    assert all(b is not None and 0 < b <= 800 for b in got["bottoms"].values()), got["bottoms"]


@pytest.fixture(scope="module")
def sweep_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The comparison page of a small sweep of the capacity scenario (its objective
    answered): 2 job-handler counts x 2 seeds of a short run; and its headline figures."""
    from activitykit.experiments import run_sweep
    from activitykit.scenario import load_scenario

    root = Path(__file__).parents[1]
    scenario = load_scenario(
        root / "scenarios" / "capacity-job-handlers.yaml", ["duration=3600", "warmup=600"]
    )
    out = tmp_path_factory.mktemp("sweep")
    run_sweep(scenario, ["server.job_handlers=3,4"], 2, out_dir=out, progress=False)
    assert scenario.headline is not None
    return out / "report.html", list(scenario.headline.figures)


def test_sweep_page_opens_without_errors_with_its_answer_first(sweep_page, tmp_path: Path):
    path, figures = sweep_page
    with browser(tmp_path) as page:
        got = open_page(page, path)
        errors = page.errors()
        js = (
            "JSON.stringify({answer: document.querySelector('.answer')?.getBoundingClientRect()"
            ".bottom ?? null, text: document.querySelector('.answer')?.textContent ?? null,"
            " scrolls: Array.from(document.querySelectorAll('.scroll'))"
            ".map(d => getComputedStyle(d).overflow)})"
        )
        layout = json.loads(page.send("Runtime.evaluate", expression=js)["result"]["value"])
    assert errors == []
    alts = [i["alt"] for i in got["images"]]
    # one chart per headline figure of the scenario, none broken, none twice
    assert sorted(alts) == sorted(f"{f} against server.job_handlers" for f in figures)
    assert [i["alt"] for i in got["images"] if not i["loaded"]] == []
    # the objective answered in words, in the first screen
    assert layout["text"].startswith("The smallest server.job_handlers with "), layout
    assert layout["answer"] is not None and 0 < layout["answer"] <= 800, layout
    assert layout["scrolls"] == ["auto"]  # the grid table scrolls, it is not cut off


def test_the_check_catches_a_broken_page(tmp_path: Path):
    # The same checks on a page that is wrong in each way they look for.
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><body><img alt="gone" src="missing.png">'
        '<img alt="garbage" src="data:image/png;base64,AAAA">'
        "<script>console.error('boom')</script></body></html>",
        encoding="utf-8",
    )
    with browser(tmp_path) as page:
        got = open_page(page, bad)
        errors = page.errors()
    assert any("boom" in e for e in errors)
    assert sorted(i["alt"] for i in got["images"] if not i["loaded"]) == ["garbage", "gone"]
    assert _ink(got["screen"]) < 0.02  # two broken icons on white: an empty first screen
    assert set(got["bottoms"].values()) == {None}  # and no headline


def test_chromium_is_closed_without_leaving_its_socket_directory(tmp_path: Path):
    # chromium's singleton socket lives in a directory of the system's temporary directory,
    # linked from the profile; a chromium ended by a signal leaves that directory behind
    with browser(tmp_path):
        socket_dir = Path(os.readlink(tmp_path / "chromium-profile" / "SingletonSocket")).parent
        assert socket_dir.is_dir()
    assert not socket_dir.exists()
