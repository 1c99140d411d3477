"""The explorer widget in a real browser: JupyterLab on 127.0.0.1, driven by headless Chromium.

The test starts JupyterLab (this interpreter's, so the kernel is this virtualenv's python) on a
temporary copy of ``notebooks/``, opens notebook 02 in Debian's Chromium through Playwright, runs
every cell, checks that the CAM explorer rendered, moves its image slider and checks that the
picture changed. Screenshots go to ``build/screenshots/``.

It needs Playwright (``pip install -e '.[test]'``) and a Chromium: ``$CAMLIB_CHROMIUM``, else
``chromium`` on the PATH or ``/usr/bin/chromium`` (Debian's ``apt-get install chromium``; ``.ci/run``
installs it). Playwright's own browser download is not used. Without either, the test skips.
Deselect it with ``-m "not browser"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "02_mnist_gap_network.ipynb"
SCREENSHOTS = ROOT / "build" / "screenshots"
# Notebook 02 loads its two networks from checkpoints/ in seconds, or trains them in ~1.5 min on 2 idle cores.
RUN_TIMEOUT_S = float(os.environ.get("CAMLIB_BROWSER_TIMEOUT", 480))
SERVER_TIMEOUT_S = 90
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]

pytestmark = pytest.mark.browser


def find_chromium() -> str | None:
    """``$CAMLIB_CHROMIUM``, else a system Chromium; None when there is none."""
    candidates = [os.environ.get("CAMLIB_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                  "/usr/bin/chromium"]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'")
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium to drive: install Debian's `chromium` (apt-get install chromium) "
                    "or point $CAMLIB_CHROMIUM at a Chromium binary")
    return path


@dataclass
class Lab:
    url: str
    token: str
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kernel_environment(tmp: Path) -> dict[str, str]:
    """The server's (and so the kernel's) environment: quick profile, the same data and checkpoints as
    the other tests, and Jupyter's user folders in ``tmp`` so nothing in ``~`` changes the run."""
    env = dict(os.environ)
    env["CAMLIB_PROFILE"] = "quick"
    env.pop("MPLBACKEND", None)  # `make test` sets Agg; the kernel draws inline like a student's would
    for name in ("CAMLIB_DATA", "CAMLIB_CHECKPOINTS"):  # the kernel runs in another folder
        if env.get(name):
            env[name] = str(Path(env[name]).expanduser().resolve())
    env.setdefault("CAMLIB_CHECKPOINTS", str(ROOT / "checkpoints"))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for name, folder in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                         ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):
        env[name] = str(tmp / folder)
        (tmp / folder).mkdir(parents=True, exist_ok=True)
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_PREFER_ENV_PATH", None)
    return env


def write_lab_settings(settings: Path) -> None:
    """No news or update toasts over the notebook, and every cell kept in the page (no windowing)."""
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, values in files.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 over a copy of notebooks/ (Lab autosaves outputs into what it opens)."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = kernel_environment(tmp)
    write_lab_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands, read cell outputs
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.getuid() == 0:
        command.append("--allow-root")
    log = tmp / "jupyterlab.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, log)
    try:
        wait_for_server(server, lab)
        yield lab
    finally:
        stop(server)


def wait_for_server(server: subprocess.Popen, lab: Lab) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    request = urllib.request.Request(f"{lab.url}/api/status", headers={"Authorization": f"token {lab.token}"})
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer on {lab.url} within {SERVER_TIMEOUT_S} s:\n{lab.log_tail()}")


def stop(server: subprocess.Popen) -> None:
    """Stop the server (it shuts its kernels down), then anything left in its process group."""
    if server.poll() is None:
        server.terminate()  # SIGTERM: Jupyter stops without asking and shuts its kernels down
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    try:
        os.killpg(server.pid, signal.SIGKILL)  # the session start_new_session made: the kernel, if it lingers
    except (ProcessLookupError, PermissionError):
        pass


# In the page -----------------------------------------------------------------------------------

NOTEBOOK_READY = """(name) => {
    const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    return !!(widget && widget.sessionContext && widget.content && widget.content.model
              && widget.context.path.endsWith(name));
}"""

START_RUN = """async () => {
    const app = window.jupyterapp, widget = app.shell.currentWidget;
    await widget.context.ready;
    await widget.sessionContext.ready;
    window.__camRun = null;
    app.commands.execute('notebook:run-all-cells').then(
        ok => { window.__camRun = {ok: ok !== false}; },
        error => { window.__camRun = {ok: false, error: String(error)}; });
    const kernel = widget.sessionContext.session && widget.sessionContext.session.kernel;
    return kernel ? kernel.name : null;
}"""

CELL_ERRORS = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells, errors = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        for (const output of cell.outputs.toJSON()) {
            if (output.output_type === 'error') {
                errors.push({cell: i, source: cell.sharedModel.getSource().slice(0, 200),
                             ename: output.ename, evalue: output.evalue, traceback: output.traceback.join('\\n')});
            }
        }
    }
    return errors;
}"""

IMAGE_DIGEST = """async (img) => {
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text);
}"""

KERNEL_IDLE_FOR = """(ms) => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const now = Date.now();
    if (kernel.status !== 'idle') { window.__camBusyAt = now; return false; }
    return now - (window.__camBusyAt || 0) >= ms;
}"""

RUNNING_CELL = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type === 'code' && cell.executionState === 'running') {
            const text = cell.outputs.toJSON().map(o => o.text || (o.data && o.data['text/plain']) || '').join('');
            return {cell: i, source: cell.sharedModel.getSource().slice(0, 200), output: text.slice(-600)};
        }
    }
    return null;
}"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def picture_digest(picture) -> str:
    """SHA-256 of the PNG the widget shows (its blob: URL is fetched in the page)."""
    data = base64.b64decode(picture.evaluate(IMAGE_DIGEST))
    assert data.startswith(b"\x89PNG"), "the explorer's picture is not a PNG"
    return hashlib.sha256(data).hexdigest()


def screenshot(page, element, path: Path, margin: int = 12) -> None:
    """The element with a margin around it (the summary table reaches the element's bottom edge)."""
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    viewport = page.viewport_size
    x, y = max(box["x"] - margin, 0), max(box["y"] - margin, 0)
    clip = {"x": x, "y": y, "width": min(box["width"] + 2 * margin, viewport["width"] - x),
            "height": min(box["height"] + 2 * margin, viewport["height"] - y)}
    page.screenshot(path=path, clip=clip)


def wait_for_idle_kernel(page, seconds: float = 1.0) -> None:
    """Until the kernel has been idle for ``seconds`` (so the last widget update has arrived)."""
    page.wait_for_function(KERNEL_IDLE_FOR, arg=seconds * 1000, timeout=60_000, polling=200)


def run_notebook(page, lab: Lab) -> None:
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}", wait_until="domcontentloaded")
    page.wait_for_function(NOTEBOOK_READY, arg=NOTEBOOK, timeout=120_000, polling=500)
    kernel = page.evaluate(START_RUN)
    assert kernel == "python3", f"the notebook started kernel {kernel!r}, not this virtualenv's python3"
    started = time.monotonic()
    while True:
        state = page.evaluate("() => window.__camRun")
        if state is not None:
            break
        if time.monotonic() - started > RUN_TIMEOUT_S:
            running = page.evaluate(RUNNING_CELL)
            pytest.fail(f"{NOTEBOOK} still running after {RUN_TIMEOUT_S:.0f} s ($CAMLIB_BROWSER_TIMEOUT); "
                        f"running: {running}\nserver log:\n{lab.log_tail()}")
        page.wait_for_timeout(1000)
    print(f"\n{NOTEBOOK} ran in JupyterLab in {time.monotonic() - started:.0f} s")
    errors = page.evaluate(CELL_ERRORS)
    if errors or not state["ok"]:
        details = "\n\n".join(f"cell {e['cell']}: {e['source']}\n{e['ename']}: {e['evalue']}\n"
                              f"{ANSI.sub('', e['traceback'])}" for e in errors)
        pytest.fail(f"running {NOTEBOOK} in JupyterLab failed ({state}):\n{details or lab.log_tail()}")


def test_explorer_renders_and_its_image_slider_changes_the_picture(chromium: str, lab: Lab) -> None:
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("explorer.png", "explorer-before.png", "explorer-after.png", "lab.png", "failure.png"):
        (SCREENSHOTS / name).unlink(missing_ok=True)  # no picture from an earlier run passes for this one's
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            console_errors: list[str] = []
            page.on("pageerror", lambda error: console_errors.append(str(error)))
            try:
                run_notebook(page, lab)

                # The explorer and its parts carry CSS classes (camlib.lab.widgets.CAMExplorer).
                explorer = page.locator(".jp-OutputArea-output .camlib-explorer")
                expect(explorer).to_have_count(1, timeout=60_000)
                explorer.scroll_into_view_if_needed()
                slider = explorer.locator(".camlib-explorer-image")
                expect(slider).to_contain_text("image")
                readout = slider.locator(".widget-readout")
                picture = explorer.locator("img.camlib-explorer-picture")
                summary = explorer.locator(".camlib-explorer-summary")
                expect(readout).to_have_text("0")
                expect(picture).to_be_visible()
                expect(summary).to_contain_text("predicted:")
                expect(summary.locator("table tr")).to_have_count(10)  # one row per digit
                expect(explorer.locator(".widget-hslider")).to_have_count(2)  # image and opacity
                before = picture_digest(picture)
                picture_src = picture.get_attribute("src")
                screenshot(page, explorer, SCREENSHOTS / "explorer-before.png")

                # Move the image slider three steps to the right with the keyboard.
                handle = slider.locator(".noUi-handle")
                handle.focus()
                for _ in range(3):
                    handle.press("ArrowRight")
                expect(readout).to_have_text("3", timeout=30_000)
                expect(picture).not_to_have_attribute("src", picture_src, timeout=60_000)
                wait_for_idle_kernel(page)  # every slider step has been drawn
                after = picture_digest(picture)
                assert after != before, "moving the image slider did not change the explorer's picture"
                expect(summary).to_contain_text("predicted:")

                screenshot(page, explorer, SCREENSHOTS / "explorer-after.png")
                shutil.copyfile(SCREENSHOTS / "explorer-after.png", SCREENSHOTS / "explorer.png")
                page.screenshot(path=SCREENSHOTS / "lab.png")
            except BaseException:
                page.screenshot(path=SCREENSHOTS / "failure.png")
                raise
            assert not console_errors, f"JavaScript errors in JupyterLab: {console_errors}"
        finally:
            browser.close()
