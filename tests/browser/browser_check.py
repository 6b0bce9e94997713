"""The course in a real browser: ``make test-browser`` (never part of ``make test``).

JupyterLab runs on loopback over copies of notebooks/, labs/ and solutions/ in a temporary
folder (nothing in the repository is opened for writing), and Debian's Chromium, driven by
Playwright, opens every notebook as a learner would. For each one it checks that Markdown
renders, that every Mermaid block becomes an SVG, that no error dialog appears, that the
kernel starts and the first cells run; in solutions every cell runs and each ``check(...)``
must show its HTML result. The grader's HTML report is opened in the same browser. Two
fixture notebooks (tests/browser/fixtures) prove the check fails when it should.

The file name does not start with ``test_`` on purpose: pytest collects it only when named
on the command line, as the Makefile's ``test-browser`` target does.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", ROOT / "screenshots"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI and containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Code cells run in notebooks and labs ("the first cells"); solutions run every cell.
FIRST_CELLS = 3
#: Seconds for one notebook's cells (a solution runs all its cells, checks included).
RUN_TIMEOUT = 180.0
MERMAID_FENCE = re.compile(r"^```mermaid\s*$", re.MULTILINE)

try:
    from playwright.sync_api import BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - the Makefile installs the [browser] extra first
    pytest.exit("playwright is not installed: run `make test-browser` (installs .[browser])", 2)

if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytest.exit(
        f"Chromium not found at {CHROMIUM}: install Debian's chromium package"
        " (apt-get install chromium) or set CHROMIUM=/path/to/chromium",
        2,
    )


def _notebooks() -> list[str]:
    return [
        f"{folder}/{path.name}"
        for folder in ("notebooks", "labs", "solutions")
        for path in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
    ]


# --------------------------------------------------------------------------- JupyterLab


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    requests: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(folder: Path) -> None:
    # Every cell rendered (no virtual scrolling), no news or update checks from the internet.
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
    }
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(content), encoding="utf-8")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    temp = Path(tempfile.mkdtemp(prefix="authcourse-browser-"))
    root = temp / "course"
    for folder in ("notebooks", "labs", "solutions"):
        shutil.copytree(ROOT / folder, root / folder)
    shutil.copytree(FIXTURES, root / "fixtures")
    _settings(temp / "settings")
    port, token = _free_port(), secrets.token_hex(24)
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(temp / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(temp / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(temp / "runtime"),
        # check() asks a learner's name once in a real front end; a known one is not asked.
        "AUTHCOURSE_LEARNER": "Browser Check <0>",
    }
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabServerApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (temp / "jupyter.log").open("wb")
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (temp / "jupyter.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"JupyterLab did not start:\n{tail}") from None
                time.sleep(0.3)
        yield Lab(url, token, root)
    finally:
        server.terminate()  # always stop JupyterLab (and with it the kernels it started)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    # A fresh profile (--user-data-dir) per run: nothing carried over from another run.
    with tempfile.TemporaryDirectory(prefix="authcourse-chromium-") as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900},
            )
            try:
                yield context
            finally:
                context.close()


def _page(browser: BrowserContext, lab: Lab | None) -> tuple[Page, list[str]]:
    page = browser.new_page()
    outside: list[str] = []

    def watch(request: Any) -> None:
        url = request.url
        local = lab is not None and url.startswith(lab.url)
        if not (local or url.startswith(("data:", "blob:", "file:", "about:"))):
            outside.append(url)

    page.on("request", watch)
    return page, outside


# --------------------------------------------------------------------------- one notebook

_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const out = {cells: [], dialogs: document.querySelectorAll('.jp-Dialog').length};
  out.dialogText = [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText).join(' | ');
  if (!panel || !panel.content || !panel.content.widgets) { return out; }
  for (const cell of panel.content.widgets) {
    const model = cell.model;
    const info = {type: model.type, node: cell.node};
    if (model.type === 'code') {
      info.count = model.executionCount;
      info.errors = [];
      for (let i = 0; i < model.outputs.length; i++) {
        const o = model.outputs.get(i).toJSON();
        if (o.output_type === 'error') { info.errors.push(o.ename + ': ' + o.evalue); }
      }
      info.source = model.sharedModel.getSource();
    }
    out.cells.push({type: info.type, count: info.count ?? null, errors: info.errors ?? [],
                    source: info.source ?? ''});
  }
  return out;
}"""

_DOM = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const root = panel.node;
  return {
    markdown: root.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown').length,
    headings: root.querySelectorAll('.jp-RenderedMarkdown h1, .jp-RenderedMarkdown h2').length,
    // A heading left as '# text' outside code blocks means the Markdown did not render.
    rawMarkdown: [...root.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown')]
      .filter(n => { const c = n.cloneNode(true); c.querySelectorAll('pre, code')
        .forEach(e => e.remove()); return /^\\s*#{1,6} /m.test(c.textContent); }).length,
    mermaidSvgs: [...root.querySelectorAll('.jp-RenderedMermaid')]
      .filter(n => !n.classList.contains('jp-mod-warning') && [...n.querySelectorAll('img')]
        .some(i => i.src.startsWith('data:image/svg+xml') && i.naturalWidth > 0)).length,
    mermaidErrors: [...root.querySelectorAll('.jp-RenderedMermaid.jp-mod-warning')]
      .map(n => n.innerText.slice(0, 200)),
    reports: root.querySelectorAll('.jp-OutputArea-output .authcourse-report').length,
  };
}"""


def inspect(page: Page, lab: Lab, relative: str, *, run_all: bool) -> list[str]:
    """Open one notebook in JupyterLab; return every problem a learner would see."""
    problems: list[str] = []
    notebook = json.loads((lab.root / relative).read_text(encoding="utf-8"))
    fences = sum(
        len(MERMAID_FENCE.findall("".join(cell["source"])))
        for cell in notebook["cells"]
        if cell["cell_type"] == "markdown"
    )
    markdown_cells = sum(cell["cell_type"] == "markdown" for cell in notebook["cells"])
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    checks = sum(bool(re.search(r"\bcheck(_all)?\(", "".join(c["source"]))) for c in code_cells)

    page.goto(f"{lab.url}/lab/tree/{relative}?reset&token={lab.token}")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.content"
        " && window.jupyterapp.shell.currentWidget.content.widgets"
        " && window.jupyterapp.shell.currentWidget.content.widgets.length > 0",
        timeout=60_000,
    )
    # The kernel must start: wait until the session reports an idle kernel.
    try:
        page.wait_for_function(
            """() => {
              const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
              return ctx.isReady && ctx.session && ctx.session.kernel
                && ctx.session.kernel.status === 'idle';
            }""",
            timeout=60_000,
        )
    except Exception:
        problems.append("the kernel did not start (no idle kernel within 60 s)")
        return problems

    # Run the first cells (or all of them in a solution) as a learner would.
    if code_cells:
        if run_all:
            command, target = "notebook:run-all-cells", len(code_cells)
        else:
            target = min(FIRST_CELLS, len(code_cells))
            command = "notebook:run-all-above"
        page.evaluate(
            """([command, target]) => {
              const panel = window.jupyterapp.shell.currentWidget;
              const widgets = panel.content.widgets;
              let seen = 0, index = widgets.length;
              for (let i = 0; i < widgets.length; i++) {
                if (widgets[i].model.type === 'code' && ++seen > target) { index = i; break; }
              }
              panel.content.activeCellIndex = Math.min(index, widgets.length - 1);
              if (index === widgets.length && command === 'notebook:run-all-above') {
                command = 'notebook:run-all-cells';
              }
              window.jupyterapp.commands.execute(command).then(
                ok => { window.__authcourseRun = 'done:' + ok; },
                err => { window.__authcourseRun = 'failed:' + err; });
            }""",
            [command, target],
        )
        try:
            page.wait_for_function(
                """() => {
                  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                  return window.__authcourseRun !== undefined && kernel.status === 'idle';
                }""",
                timeout=RUN_TIMEOUT * 1000,
                polling=500,
            )
        except Exception:
            problems.append(f"the cells did not finish within {RUN_TIMEOUT:.0f} s")
        outcome = page.evaluate("() => window.__authcourseRun")
        if outcome is not None and not str(outcome).startswith("done:"):
            problems.append(f"running the cells failed: {outcome}")
        state = page.evaluate(_STATE)
        ran = [cell for cell in state["cells"] if cell["type"] == "code"][:target]
        for number, cell in enumerate(ran, start=1):
            for error in cell["errors"]:
                problems.append(f"code cell {number} raised {error}")
            if cell["count"] is None and not any(c["errors"] for c in ran[: number - 1]):
                problems.append(f"code cell {number} did not run")
    # Markdown and Mermaid render asynchronously: poll until all is there or time is up.
    deadline = time.monotonic() + 30
    while True:
        dom = page.evaluate(_DOM)
        done = dom["markdown"] >= markdown_cells and (
            dom["mermaidSvgs"] + len(dom["mermaidErrors"]) >= fences
        )
        if done or time.monotonic() > deadline:
            break
        page.wait_for_timeout(300)
    if dom["markdown"] < markdown_cells:
        problems.append(f"{dom['markdown']} of {markdown_cells} Markdown cells rendered")
    if dom["rawMarkdown"]:
        problems.append(f"{dom['rawMarkdown']} Markdown cells show raw '#' headings")
    if markdown_cells and not dom["headings"]:
        problems.append("no rendered heading in the notebook")
    if dom["mermaidSvgs"] != fences:
        problems.append(f"{dom['mermaidSvgs']} of {fences} Mermaid diagrams rendered to an SVG")
    problems.extend(f"Mermaid error: {text}" for text in dom["mermaidErrors"])
    if run_all and dom["reports"] < checks:
        problems.append(f"{dom['reports']} of {checks} check(...) results rendered as HTML")
    state = page.evaluate(_STATE)
    if state["dialogs"]:
        problems.append(f"an error dialog appeared: {state['dialogText'][:300]}")
    return problems


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The chapter as a reader meets it: the first diagram (else the top) in view.
    page.evaluate(
        "() => { const n = document.querySelector('.jp-RenderedMermaid')"
        " || document.querySelector('.jp-Cell'); if (n) { n.scrollIntoView(); } }"
    )
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def _shut_down(page: Page) -> None:
    # Free the kernel's memory before the next notebook (2 cores, many notebooks).
    page.evaluate(
        "async () => { const ctx = window.jupyterapp.shell.currentWidget.sessionContext;"
        " if (ctx.session) { await ctx.session.shutdown(); } }"
    )
    page.close()


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("relative", _notebooks())
def test_notebook_in_the_browser(lab: Lab, browser: BrowserContext, relative: str) -> None:
    page, outside = _page(browser, lab)
    try:
        problems = inspect(page, lab, relative, run_all=relative.startswith("solutions/"))
        folder, name = relative.split("/")
        if folder in ("notebooks", "solutions"):
            _screenshot(page, f"{folder}-{Path(name).stem}")
        if folder == "solutions" and not problems:
            # A learner's view of the first check(...) result: the cell and its HTML output.
            cell = page.locator(".jp-CodeCell:has(.authcourse-report)").first
            cell.scroll_into_view_if_needed()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            cell.screenshot(path=str(SCREENSHOTS / f"{folder}-{Path(name).stem}-check.png"))
    finally:
        _shut_down(page)
    problems.extend(f"a request left the machine: {url}" for url in outside)
    assert not problems, f"{relative}:\n  " + "\n  ".join(problems)


def test_a_broken_mermaid_block_is_caught(lab: Lab, browser: BrowserContext) -> None:
    page, _ = _page(browser, lab)
    try:
        problems = inspect(page, lab, "fixtures/broken_mermaid.ipynb", run_all=False)
    finally:
        _shut_down(page)
    assert "1 of 2 Mermaid diagrams rendered to an SVG" in problems, problems
    assert any(p.startswith("Mermaid error:") for p in problems), problems


def test_a_failing_first_cell_is_caught(lab: Lab, browser: BrowserContext) -> None:
    page, _ = _page(browser, lab)
    try:
        problems = inspect(page, lab, "fixtures/first_cell_error.ipynb", run_all=False)
    finally:
        _shut_down(page)
    assert "code cell 1 raised RuntimeError: this first cell fails on purpose" in problems, problems


def test_the_grade_report_renders_offline(browser: BrowserContext, tmp_path: Path) -> None:
    from authcourse.grading import html_report
    from authcourse.grading.model import ExerciseScore, Grade

    rows = [
        Grade(
            "alice/03_jwt.ipynb",
            "alice",
            "03",
            [ExerciseScore("03.1", 2, 2.0, "passed"), ExerciseScore("03.2", 3, 1.5, "failed")],
        ),
        Grade(
            "bob/03_jwt.ipynb",
            "bob",
            "03",
            [ExerciseScore("03.1", 2, 0.0, "failed"), ExerciseScore("03.2", 3, 0.0, "failed")],
            notes=["cell 4 raised NameError <script>alert(1)</script>"],
        ),
    ]
    target = tmp_path / "report.html"
    html_report.write(rows, target)
    page, outside = _page(browser, None)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(target.as_uri())
        page.wait_for_load_state("load")
        assert page.locator("table.grades tbody tr").count() == 2
        assert page.locator("figure#pass-rate-chart svg").count() == 1
        assert page.locator("figure#distribution-chart svg").count() == 1
        box = page.locator("figure#pass-rate-chart svg").bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50  # drawn, not empty
        assert "NameError <script>" in page.locator("dl.notes").inner_text()  # text, not markup
        _screenshot(page, "grade-report")
    finally:
        page.close()
    assert not outside, outside
    assert not errors, errors
