"""The web UI in a real browser: Debian's Chromium driven by Playwright against `podlog up -c`, the real agent
tailing files the test writes into the real store, served by the real API.

Each test saves a screenshot of the view it checks under the session's temporary directory (printed at the end of
the session with ``-s``; ``PODLOG_UI_SCREENSHOTS=dir`` puts them elsewhere), so a person can look at the page.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.conftest import wait_for

CHROMIUM = os.environ.get("PODLOG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STATIC = Path(__file__).resolve().parents[2] / "podlog" / "web" / "static"
LINES = 120  # per file; one line every 5 s over the last 10 minutes

if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
    pytest.skip(f"no Chromium at {CHROMIUM} (scripts/test.sh installs Debian's chromium when run as root)",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
expect = playwright_api.expect


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _line(app: str, pod: str, i: int, t: float) -> str:
    """A JSON log line: an error every 10th line (from the 4th), a warning every 7th."""
    level = "error" if i % 10 == 3 else "warn" if i % 7 == 0 else "info"
    word = "ERROR" if level == "error" else "request"
    message = f"{app} {word} {i} status={500 if level == 'error' else 200} path=/cart/{i % 4}"
    user = 'o"brien\\ops' if level == "error" else "ann"  # a quote and a backslash: filters must escape them
    return json.dumps({"@timestamp": _iso(t), "level": level, "message": message, "user": user, "trace": f"t{i}",
                       "kubernetes": {"namespace_name": "shop", "pod_name": pod, "container_name": app,
                                      "labels": {"app": app}}}) + "\n"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


class Site:
    """`podlog up -c` on loopback, collecting two log files: web.log (pod web-7f9c) and db.log (pod db-0)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir()
        now = time.time()
        for app, pod in (("web", "web-7f9c"), ("db", "db-0")):
            with open(self.logs / f"{app}.log", "w") as f:
                for i in range(LINES):
                    f.write(_line(app, pod, i, now - 600 + i * 5))
        self.store = root / "data" / "store"
        config = {  # JSON is YAML; `user` indexed as a keyword, `trace` only kept
            "agent": {"grace_period": "5s", "data_dir": str(root / "state")},
            "sources": [{"type": "tail", "tag": "files.*", "path": [str(self.logs / "*.log")],
                         "pos_file": str(root / "state" / "files.pos"), "read_from_head": True, "parser": "json"}],
            "outputs": [{"type": "store", "match": "**", "path": str(self.store), "commit_interval": "1s",
                         "fields": {"user": "keyword"}, "buffer": {"flush_interval": "1s"}}],
        }
        (root / "podlog.yaml").write_text(json.dumps(config, indent=2))
        self.stderr = open(root / "up.log", "w+")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "podlog", "up", "-c", str(root / "podlog.yaml"), "--data", str(root / "data"),
             "--listen", "127.0.0.1:0"], cwd=root, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.url = ""

    def wait_ready(self) -> None:
        if not wait_for(self._announced, timeout=60) or not self.url:
            pytest.fail(f"podlog up did not announce its URL:\n{(self.root / 'up.log').read_text()}")
        if not wait_for(lambda: self.api("/api/stats")["docs"] >= 2 * LINES, timeout=60, interval=0.2):
            pytest.fail(f"the store did not receive the lines:\n{(self.root / 'up.log').read_text()}")

    def _announced(self) -> bool:
        found = re.search(r"UI and API: (http://127\.0\.0\.1:\d+/)", (self.root / "up.log").read_text())
        if found:
            self.url = found.group(1)
        return bool(found) or self.proc.poll() is not None

    def api(self, path: str, **params: object) -> dict:
        return _get(self.url.rstrip("/") + path + ("?" + urlencode(params) if params else ""))

    def append(self, app: str, message: str) -> None:
        """One more line, written now (the agent tails the file)."""
        with open(self.logs / f"{app}.log", "a") as f:
            f.write(json.dumps({"@timestamp": _iso(time.time()), "level": "info", "message": message,
                                "kubernetes": {"namespace_name": "shop", "pod_name": f"{app}-live",
                                               "container_name": app}}) + "\n")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not (STATIC / "index.html").exists() or not (STATIC / "app.js").exists():
        pytest.fail(f"the UI is not built in {STATIC}: run `npm ci && npm run build` in web/ "
                    "(scripts/test.sh and scripts/quickstart.sh do)")
    s = Site(tmp_path_factory.mktemp("ui-site"))
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = Path(os.environ["PODLOG_UI_SCREENSHOTS"]) if os.environ.get("PODLOG_UI_SCREENSHOTS") else \
        tmp_path_factory.mktemp("ui-screenshots")
    where.mkdir(parents=True, exist_ok=True)
    yield where
    print(f"\nUI screenshots: {where}")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, site: Site):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def settle(pg) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page has loaded everything the address asks for (body[data-ready] = the query)."""
    pg.wait_for_function("document.body.dataset.ready === location.search", timeout=20_000)


def open_view(pg, site: Site, query: str = "") -> None:  # type: ignore[no-untyped-def]
    pg.goto(site.url + query)
    settle(pg)


def params(pg) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k: v[0] for k, v in parse_qs(urlsplit(pg.url).query).items()}


def hit_count(pg) -> int:  # type: ignore[no-untyped-def]
    return int(pg.locator("#hit-count").inner_text().split()[0].replace(",", ""))


def column(pg, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    return pg.locator(f"#hits tbody tr.hit td[data-col='{name}']").all_inner_texts()


def test_search_marks_matches_newest_first(page, site: Site, shots: Path) -> None:
    open_view(page, site)
    page.fill("#query", "ERROR")
    page.press("#query", "Enter")
    settle(page)
    assert params(page)["q"] == "ERROR"
    assert hit_count(page) == 24 == site.api("/api/search", q="ERROR", size=0)["total"]
    rows = page.locator("#hits tbody tr.hit")
    assert rows.count() == 24
    assert page.locator("#hits tbody tr.hit td.msg mark").all_inner_texts() == ["ERROR"] * 24
    times = page.locator("#hits tbody tr.hit td.time").all_inner_texts()
    assert times == sorted(times, reverse=True)
    expect(page.locator("#stats")).to_contain_text(re.compile(r"^24\d docs · [\d.]+ KiB · [\d.]+/s$"))
    # a row opens to the whole document
    rows.first.click()
    detail = page.locator("#hits tr.detail")
    expect(detail.locator("pre.json")).to_contain_text('"pod_name": "db-0"')
    page.screenshot(path=str(shots / "search.png"))


def test_syntax_error_is_marked_at_its_position(page, site: Site, shots: Path) -> None:
    open_view(page, site)
    bad = "level:(error OR"
    page.fill("#query", bad)
    page.press("#query", "Enter")
    settle(page)
    box = page.locator("#query-error")
    expect(box).to_be_visible()
    with pytest.raises(urllib.error.HTTPError) as err:
        site.api("/api/search", q=bad)
    answer = json.loads(err.value.read())
    assert answer["position"] is not None
    assert box.locator(".err-msg").inner_text() == answer["error"]
    marked = box.locator("mark.err-at")
    assert marked.get_attribute("title") == f"position {answer['position']}"
    text = box.locator(".err-query").inner_text()
    assert text[: answer["position"]] == bad[: answer["position"]]
    expect(page.locator("#query")).to_have_class(re.compile("invalid"))
    page.screenshot(path=str(shots / "syntax-error.png"))


def test_sidebar_top_values_filter_in_and_out(page, site: Site, shots: Path) -> None:
    open_view(page, site, "?q=ERROR&cols=pod,level")
    page.click("#selected-fields li[data-field='pod'] .field-name")  # a chosen column is on top
    values = page.locator("#selected-fields li[data-field='pod'] .top-value")
    expect(values).to_have_count(2)
    counts = dict(zip(values.locator(".v").all_inner_texts(), values.locator(".n").all_inner_texts(), strict=True))
    assert counts == {"db-0": "12", "web-7f9c": "12"}
    page.screenshot(path=str(shots / "sidebar-top-values.png"))

    values.filter(has_text="web-7f9c").locator("button.fin").click()
    settle(page)
    assert params(page)["q"] == 'ERROR AND pod:"web-7f9c"'
    assert hit_count(page) == 12
    assert set(column(page, "pod")) == {"web-7f9c"}
    # the open panel follows the query: only the kept value is left
    expect(values.locator(".v")).to_have_text(["web-7f9c"])
    page.screenshot(path=str(shots / "filtered-in.png"))

    page.go_back()
    settle(page)
    expect(values).to_have_count(2)
    page.locator("#selected-fields li[data-field='pod'] .top-value").filter(has_text="web-7f9c") \
        .locator("button.fout").click()
    settle(page)
    assert params(page)["q"] == 'ERROR AND NOT pod:"web-7f9c"'
    assert hit_count(page) == 12
    assert set(column(page, "pod")) == {"db-0"}
    assert set(column(page, "level")) == {"error"}


def test_filter_from_an_opened_row_escapes_the_value(page, site: Site, shots: Path) -> None:
    open_view(page, site, "?q=ERROR")
    page.locator("#hits tbody tr.hit").first.click()
    page.locator("#hits tr.detail tr[data-field='user'] button.fout").click()
    settle(page)
    assert params(page)["q"] == 'ERROR AND NOT user:"o\\"brien\\\\ops"'
    assert hit_count(page) == 0
    page.go_back()
    settle(page)
    page.locator("#hits tbody tr.hit").first.click()
    page.locator("#hits tr.detail tr[data-field='user'] button.fin").click()
    settle(page)
    assert hit_count(page) == 24
    page.locator("#hits tbody tr.hit").first.click()
    page.locator("#hits tr.detail tr[data-field='user'] button.fcol").click()  # and as a column
    settle(page)
    assert params(page)["cols"] == "user"
    assert set(column(page, "user")) == {'o"brien\\ops'}
    # a field the store keeps without indexing cannot be filtered on (the server would refuse): said, not offered
    page.locator("#hits tbody tr.hit").first.click()
    trace = page.locator("#hits tr.detail tr[data-field='trace']")
    expect(trace.locator("button.fin")).to_be_disabled()
    expect(trace.locator("button.fout")).to_be_disabled()
    assert "not indexed" in (trace.locator("button.fin").get_attribute("title") or "")
    expect(page.locator("#hits tr.detail tr[data-field='user'] button.fin")).to_be_enabled()
    page.screenshot(path=str(shots / "row-filter.png"))


def test_histogram_drag_zooms_the_time_range(page, site: Site, shots: Path) -> None:
    open_view(page, site)
    assert hit_count(page) == 2 * LINES
    over = page.locator("#histogram .u-over").bounding_box()
    assert over is not None
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.55, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.7, y, steps=8)
    page.mouse.move(over["x"] + over["width"] * 0.8, y, steps=8)
    page.mouse.up()
    settle(page)
    p = params(page)
    assert p["from"].isdigit() and p["to"].isdigit(), p
    start, end = int(p["from"]), int(p["to"])
    zoomed = hit_count(page)
    assert 0 < zoomed < 2 * LINES
    assert zoomed == site.api("/api/search", q="", size=0, **{"from": start, "to": end})["total"]
    shown = page.locator("#hits tbody tr.hit").count()
    assert shown == min(zoomed, 100)
    assert "→" in page.locator("#time-button").inner_text()
    page.screenshot(path=str(shots / "histogram-zoomed.png"))
    page.go_back()  # the back button undoes the zoom
    settle(page)
    assert "from" not in params(page)
    assert hit_count(page) == 2 * LINES


def test_absolute_time_range_from_the_picker(page, site: Site) -> None:
    open_view(page, site)
    page.click("#time-button")
    expect(page.locator("#time-popover")).to_be_visible()
    # five to two minutes ago, typed as the browser's local time (datetime-local inputs)
    start, end = page.evaluate("""() => {
        const pad = (n) => String(n).padStart(2, "0");
        const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
            `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
        const now = Math.floor(Date.now() / 1000) * 1000;
        return [local(new Date(now - 300000)), local(new Date(now - 120000))];
    }""")
    page.fill("#time-from", start)
    page.fill("#time-to", end)
    page.click("#time-apply")
    settle(page)
    p = params(page)
    start_ms = page.evaluate("(s) => new Date(s).getTime()", start)
    end_ms = page.evaluate("(s) => new Date(s).getTime()", end)
    assert (int(p["from"]), int(p["to"])) == (start_ms, end_ms + 999)  # the "to" second is included
    assert page.locator("#time-button").inner_text() == f"{start.replace('T', ' ')} → {end.replace('T', ' ')}"
    expected = site.api("/api/search", q="", size=0, **{"from": p["from"], "to": p["to"]})["total"]
    assert 0 < hit_count(page) == expected < 2 * LINES


def test_context_shows_neighbours_in_file_order(page, site: Site, shots: Path) -> None:
    open_view(page, site, "?q=ERROR")
    first = page.locator("#hits tbody tr.hit").first
    anchor_text = first.locator("td.msg").inner_text()
    app, _, n = anchor_text.split()[:3]
    first.click()
    page.click("#hits tr.detail button.ctx-open")
    settle(page)
    assert params(page)["ctx"] == first.get_attribute("data-id")
    expect(page.locator("#results")).to_be_hidden()

    def numbers() -> list[int]:
        texts = page.locator("#context-rows tr td.msg").all_inner_texts()
        assert all(t.startswith(f"{app} ") for t in texts), texts  # the same file only
        return [int(t.split()[2]) for t in texts]

    anchor = int(n)
    assert page.locator("#context-rows tr.anchor td.msg").inner_text() == anchor_text
    assert numbers() == list(range(anchor - 10, min(anchor + 11, LINES)))
    page.screenshot(path=str(shots / "context.png"))
    page.click("#context-earlier")
    settle(page)
    assert params(page)["before"] == "20"
    assert numbers() == list(range(anchor - 20, min(anchor + 11, LINES)))
    page.go_back()
    settle(page)
    assert numbers() == list(range(anchor - 10, min(anchor + 11, LINES)))
    page.click("#context-close")
    settle(page)
    assert "ctx" not in params(page)
    expect(page.locator("#results")).to_be_visible()


def test_live_tail_receives_a_line_written_now(page, site: Site, shots: Path) -> None:
    word = f"tailprobe{time.time_ns()}"
    open_view(page, site, f"?q={word}")
    assert hit_count(page) == 0
    page.check("#live")
    settle(page)
    assert params(page)["live"] == "1"
    page.wait_for_function("document.body.dataset.tail === 'open'", timeout=20_000)
    site.append("web", f"web {word} arrived while the page was open")
    row = page.locator("#hits tbody tr.live-row")
    expect(row).to_have_count(1, timeout=30_000)
    expect(row.locator("td.msg mark")).to_have_text(word)
    expect(page.locator("#live-count")).to_have_text("+1 live")
    page.screenshot(path=str(shots / "live-tail.png"))


def test_export_downloads_the_current_query(page, site: Site, tmp_path: Path) -> None:
    open_view(page, site, "?q=ERROR&cols=pod,level")
    with page.expect_download() as dl:
        page.click("#export-ndjson")
    ndjson = dl.value.path().read_text().splitlines()
    docs = [json.loads(line) for line in ndjson]
    assert len(docs) == 24
    assert all("ERROR" in d["message"] for d in docs)
    with page.expect_download() as dl:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(dl.value.path().read_text())))
    assert rows[0] == ["time", "pod", "level"]
    assert len(rows) == 25
    assert {r[1] for r in rows[1:]} == {"db-0", "web-7f9c"}
    assert {r[2] for r in rows[1:]} == {"error"}


def test_shared_link_reopens_the_same_view(browser, page, site: Site, shots: Path) -> None:
    open_view(page, site)
    page.click("#time-button")
    page.click("#time-presets button[data-from='now-1h']")
    settle(page)
    page.fill("#query", "level:warn")
    page.press("#query", "Enter")
    settle(page)
    field = page.locator("#available-fields li[data-field='container']")
    field.hover()  # the add button shows on hover
    field.locator(".field-col").click()
    settle(page)
    link = page.url
    assert params(page) == {"q": "level:warn", "from": "now-1h", "cols": "container"}
    first_ids = page.locator("#hits tbody tr.hit").evaluate_all("rows => rows.map(r => r.dataset.id)")

    other = browser.new_context(viewport={"width": 1200, "height": 800})  # a colleague's browser
    try:
        pg = other.new_page()
        pg.goto(link)
        settle(pg)
        assert pg.input_value("#query") == "level:warn"
        assert pg.locator("#time-button").inner_text() == "Last 1 hour"
        assert pg.locator("#hits thead th[data-col]").all_inner_texts() == ["container ×"]
        assert hit_count(pg) == hit_count(page) == site.api("/api/search", q="level:warn", size=0,
                                                            **{"from": "now-1h"})["total"]
        assert pg.locator("#hits tbody tr.hit").evaluate_all("rows => rows.map(r => r.dataset.id)") == first_ids
        pg.screenshot(path=str(shots / "shared-link.png"))
    finally:
        other.close()


def test_back_and_forward_walk_through_searches(page, site: Site) -> None:
    open_view(page, site)
    for q in ("ERROR", "level:warn"):
        page.fill("#query", q)
        page.press("#query", "Enter")
        settle(page)
    warn = hit_count(page)
    page.go_back()
    settle(page)
    assert page.input_value("#query") == "ERROR"
    assert hit_count(page) == 24
    page.go_forward()
    settle(page)
    assert page.input_value("#query") == "level:warn"
    assert hit_count(page) == warn


TOKEN = "s3cret-token-for-the-ui-test"


@pytest.fixture(scope="module")
def guarded(site: Site) -> Iterator[str]:
    """The same store behind a token: a second reader (uvicorn in this process) while the agent writes."""
    from podlog.web.api import create_app
    from podlog.web.server import make_server

    server = make_server(create_app(str(site.store), token=TOKEN), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, name="guarded-api", daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started, timeout=20), "uvicorn did not start"
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_token_from_the_link_is_kept_and_left_out_of_shared_links(browser, page, guarded: str) -> None:
    page.goto(guarded + "?q=ERROR&token=" + TOKEN)
    settle(page)
    assert params(page) == {"q": "ERROR"}  # the address (what people copy) no longer holds the token
    assert hit_count(page) == 24
    assert f"token={TOKEN}" in (page.get_attribute("#export-csv", "href") or "")  # links cannot send headers
    page.reload()  # kept for this browser
    settle(page)
    assert hit_count(page) == 24

    other = browser.new_context()  # someone opening the shared link asks for the token once
    try:
        pg = other.new_page()
        pg.goto(guarded + "?q=ERROR")
        expect(pg.locator("#token-banner")).to_be_visible()
        pg.fill("#token-input", TOKEN)
        pg.press("#token-input", "Enter")
        expect(pg.locator("#hit-count")).to_have_text("24 hits")
        expect(pg.locator("#token-banner")).to_be_hidden()
    finally:
        other.close()
