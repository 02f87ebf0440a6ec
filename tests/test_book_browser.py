"""The built book in headless Chromium: every page loads, math is typeset, images load sharp, internal links resolve,
no Markdown is left unrendered and the console stays free of errors."""

import functools
import os
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

try:
    from selenium import webdriver
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None

REPO = Path(__file__).resolve().parent.parent
HTML_ROOT = REPO / "_build" / "html"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BUILD_COMMAND = "jupyter-book build . -W -n --keep-going"
GENERATED_PAGES = {"search.html", "genindex.html"}
SKIPPED_FOLDERS = {"_static", "_sources", "_images"}
RAW_TEX = re.compile(r"\$\$|\\\[|\\\]|\\\(|\\\)|\\begin\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")
TIMEOUT_S = 30


def unavailable(message: str) -> None:
    """Fail under CI (env CI set), where everything must be in place; skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def built_pages() -> list[str]:
    """Every page of the built book as a path relative to _build/html, without search, index and assets."""
    if not HTML_ROOT.is_dir():
        return []
    pages = (p.relative_to(HTML_ROOT).as_posix() for p in HTML_ROOT.rglob("*.html"))
    return sorted(p for p in pages if p not in GENERATED_PAGES and p.split("/")[0] not in SKIPPED_FOLDERS)


def toc_files(node: object) -> list[str]:
    """Every document named in a _toc.yml tree (its root and each `file:` entry)."""
    if isinstance(node, list):
        return [f for item in node for f in toc_files(item)]
    if not isinstance(node, dict):
        return []
    own = [node[key] for key in ("root", "file") if key in node]
    return own + [f for value in node.values() for f in toc_files(value)]


class _Anchors(HTMLParser):
    """Collects the fragment targets of a page: every `id` attribute and every `<a name=...>`."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value and (key == "id" or (tag == "a" and key == "name")):
                self.targets.add(value)


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    """The fragment targets defined in one HTML file."""
    parser = _Anchors()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.targets)


def link_problem(href: str, origin: str) -> str | None:
    """Why an absolute link on the local site does not resolve (missing file or fragment), or None when it does."""
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https") or parts.netloc != origin:
        return None
    target = HTML_ROOT / unquote(parts.path).lstrip("/")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"{href}: no file {target.relative_to(HTML_ROOT)}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in anchors(target):
        return f"{href}: no element with id {fragment!r} in {target.relative_to(HTML_ROOT)}"
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Site:
    """The book served on 127.0.0.1 and a headless Chromium to look at it."""

    base_url: str
    origin: str
    driver: object


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """Serve _build/html on a free local port and start headless Chromium; stop both afterwards."""
    if not (HTML_ROOT / "index.html").is_file():
        unavailable(f"{HTML_ROOT} holds no built book: build it first with `{BUILD_COMMAND}`")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        unavailable(f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver")
    if webdriver is None:
        unavailable("selenium is needed: pip install selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1024"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML_ROOT)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(TIMEOUT_S)
    driver.set_script_timeout(TIMEOUT_S)
    origin = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield Site(f"http://{origin}/", origin, driver)
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
        thread.join()


WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const startup = window.MathJax && window.MathJax.startup;
if (!startup || !startup.promise) { done("MathJax did not load"); return; }
startup.promise.then(() => done(null), (error) => done("MathJax failed: " + error));
"""

MATH_STATE = """
const article = document.querySelector("article") || document.body;
const text = article.cloneNode(true);
text.querySelectorAll("pre, code, script, style, mjx-container").forEach((node) => node.remove());
return {
  containers: article.querySelectorAll("mjx-container").length,
  errors: article.querySelectorAll("mjx-merror").length,
  text: text.textContent,
};
"""

LOAD_IMAGES = """
document.querySelectorAll("img").forEach((img) => { img.loading = "eager"; });
return Array.from(document.images).every((img) => img.complete);
"""

BROKEN_IMAGES = """
return Array.from(document.images).filter((img) => img.naturalWidth === 0).map((img) => img.src);
"""

LINKS = "return Array.from(document.querySelectorAll('a[href]')).map((a) => a.href);"

# Figures in notebook outputs: pixels per displayed CSS pixel (1 = 96 dpi on screen; 1.5 = 144 dpi)
BLURRY_FIGURES = """
return Array.from(document.querySelectorAll("article .cell_output img")).filter((img) => img.clientWidth > 0)
  .map((img) => [img.src, img.naturalWidth / img.clientWidth]);
"""
MIN_PIXEL_DENSITY = 1.5

SCROLLING_CODE = """
return Array.from(document.querySelectorAll("article div.cell_input pre, article div.cell_output pre"))
  .filter((pre) => pre.scrollWidth > pre.clientWidth + 1).map((pre) => pre.textContent.trim().slice(0, 60));
"""

RAW_MARKDOWN = """
return Array.from(document.querySelectorAll("article p")).map((p) => p.textContent.trim())
  .filter((text) => text.startsWith("|"));
"""


def open_page(site: Site, page: str) -> None:
    """Check the page is served with HTTP 200, then load it in the browser and check it is no error page."""
    url = site.base_url + page
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        assert response.status == 200, f"{page}: HTTP {response.status}"
    site.driver.get(url)
    assert urlsplit(site.driver.current_url).netloc == site.origin, f"{page} left the site: {site.driver.current_url}"
    assert not site.driver.title.startswith("Error response"), f"{page}: error page {site.driver.title!r}"
    assert site.driver.find_elements("css selector", "article"), f"{page}: no article body"


def math_problems(site: Site, page: str) -> list[str]:
    """List what is wrong with the page's math: MathJax missing or failed, errors, or raw TeX left in the text."""
    has_math = bool(site.driver.find_elements("css selector", "article .math"))
    if has_math and (failure := site.driver.execute_async_script(WAIT_FOR_MATHJAX)):
        return [f"{page}: {failure}"]
    state = site.driver.execute_script(MATH_STATE)
    problems = []
    if has_math and state["containers"] == 0:
        problems.append(f"{page}: has math but MathJax typeset none of it")
    if state["errors"] or "Math input error" in state["text"]:
        problems.append(f"{page}: {state['errors']} MathJax error(s)")
    problems += [f"{page}: raw TeX left in the text: {m.group(0)[:60]!r}" for m in RAW_TEX.finditer(state["text"])]
    return problems


def image_problems(site: Site, page: str) -> list[str]:
    """List the images of the page that did not load (naturalWidth 0); remote ones cannot load offline."""
    WebDriverWait(site.driver, TIMEOUT_S).until(lambda driver: driver.execute_script(LOAD_IMAGES))
    return [f"{page}: image did not load: {src}"
            + ("" if urlsplit(src).netloc == site.origin else " (a remote image: ship it with the book instead)")
            for src in site.driver.execute_script(BROKEN_IMAGES)]


def rendering_problems(site: Site, page: str) -> list[str]:
    """List figures drawn at under MIN_PIXEL_DENSITY image pixels per screen pixel, paragraphs that are raw
    Markdown tables (a line starting with `|`), and code cells that scroll sideways."""
    blurry = [f"{page}: figure at {density:.2f} pixels per screen pixel (< {MIN_PIXEL_DENSITY}): {src[-60:]}"
              for src, density in site.driver.execute_script(BLURRY_FIGURES) if density < MIN_PIXEL_DENSITY]
    raw = [f"{page}: a Markdown table left as text: {text[:60]!r}" for text in site.driver.execute_script(RAW_MARKDOWN)]
    wide = [f"{page}: code that scrolls sideways: {text!r}" for text in site.driver.execute_script(SCROLLING_CODE)]
    return blurry + raw + wide


def console_problems(site: Site, page: str, log: list[dict]) -> list[str]:
    """List the page's console errors (level SEVERE), but for a missing favicon and the failed local loads that
    resource_problems reports."""
    return [f"{page}: console error: {entry['message'][:200]}" for entry in log
            if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
            and "Failed to load resource" not in entry["message"]]


def resource_problems(site: Site, page: str, log: list[dict]) -> list[str]:
    """List the local files (scripts, styles, fonts...) the page asked for and could not load; favicon.ico aside."""
    local = f"http://{site.origin}/"
    return [f"{page}: {entry['message']}" for entry in log
            if "Failed to load resource" in entry["message"] and entry["message"].startswith(local)
            and not entry["message"].startswith(f"{local}favicon.ico")]


def test_every_toc_entry_is_built(site: Site) -> None:
    """Each document of _toc.yml has its HTML page in the build."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    missing = [f for f in toc_files(toc) if not (HTML_ROOT / f"{Path(f).with_suffix('')}.html").is_file()]
    assert not missing, f"in _toc.yml but not built: {missing}; rebuild with `{BUILD_COMMAND}`"


@pytest.mark.parametrize("page", built_pages() or ["index.html"])
def test_page(site: Site, page: str) -> None:
    """The page loads, MathJax typeset its math, its images load sharp, every internal link resolves, no Markdown
    table is left as text, and the console shows no error."""
    open_page(site, page)
    problems = math_problems(site, page) + image_problems(site, page) + rendering_problems(site, page)
    hrefs = site.driver.execute_script(LINKS)
    problems += [f"{page}: broken link {p}" for p in (link_problem(h, site.origin) for h in hrefs) if p]
    log = site.driver.get_log("browser")
    problems += resource_problems(site, page, log) + console_problems(site, page, log)
    assert not problems, "\n".join(problems)
