"""The notebooks in a real JupyterLab, driven by Playwright in Debian's chromium, cells run through
JupyterLab's command API. 03 at the `teach` pace: the live pipeline view goes through at least three
states before all stages show Succeeded, and no cell fails. 07: clicking Approve in the approval panel,
then running the next cell, passes at once.

The notebooks before the one under test run first, headless, at the `fast` pace, so it finds what they
made. Screenshots go to test-artifacts/."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
from browser_kit import chromium, needs_chromium
from notebook_kit import NOTEBOOKS, ROOT, execute, lab_bin, lab_environment, lab_path

from labhelpers.local import config, process

ARTIFACTS = ROOT / "test-artifacts"
pytestmark = needs_chromium
STAGE_STATUS = re.compile(r"\b(Source|Build|Deploy)\s+(None|InProgress|Succeeded|Failed)\b")
RUN_ALL = "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"  # returns at once
# The kernel is idle and the first N code cells have run, or one has failed (which stops a run-all).
IDLE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code').slice(0, %s);
    const failed = document.querySelector('[data-mime-type="application/vnd.jupyter.error"]') !== null;
    return panel.sessionContext.session.kernel.status === 'idle'
        && (failed || cells.every(c => c.model.executionCount !== null));
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path, request):
    """JupyterLab on loopback, no token, over a copy of the notebooks (nothing is saved into the repo), its
    kernels at the teach pace; the notebooks before `request.param` have run headless."""
    home, folder = tmp_path / "lab", tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder)
    for earlier in sorted(folder.glob("*.ipynb")):
        if earlier.name >= request.param:
            break
        execute(earlier, home)
    settings = tmp_path / "settings"  # every cell drawn (no windowing), no news popup over the page
    for name, value in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false"},
    }.items():
        path = settings / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port = free_port()
    with lab_environment(home):
        os.environ["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
        os.environ["PATH"] = lab_path()  # JupyterLab and its kernels as `make lab` installs them
        os.environ["LAB_PACE"] = "teach"
        server = subprocess.Popen(
            [
                str(lab_bin() / "python"),
                "-m",
                "jupyterlab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                "--ServerApp.token=",
                "--ServerApp.password=",
                "--LabApp.expose_app_in_browser=True",
                f"--ServerApp.root_dir={folder}",
                f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",  # no tabs of an earlier test reopen
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)
    process.stop(config.Layout(home))


def open_notebook(browser, url: str, name: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/tree/{name}")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session",
        timeout=90_000,
    )
    page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.ready; }")
    return page


def run_cell(page, index: int) -> None:
    """Run the code cell `index` (counting code cells only) and wait until it has run."""
    page.evaluate(
        """(index) => {
            const panel = window.jupyterapp.shell.currentWidget;
            const cells = panel.content.widgets;
            const code = cells.filter(c => c.model.type === 'code');
            panel.content.activeCellIndex = cells.indexOf(code[index]);
            return window.jupyterapp.commands.execute('notebook:run-cell');
        }""",
        index,
    )
    try:
        page.wait_for_function(IDLE % (index + 1), timeout=180_000, polling=200)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"stuck_at_code_cell_{index}.png"), full_page=True)
        raise


def code_index(name: str, text: str) -> int:
    code = [c for c in json.loads((NOTEBOOKS / name).read_text())["cells"] if c["cell_type"] == "code"]
    return next(i for i, cell in enumerate(code) if text in "".join(cell["source"]))


@pytest.mark.parametrize("jupyterlab", ["03_run_the_pipeline.ipynb"], indirect=True)
def test_03_shows_the_run_live_in_a_real_jupyterlab(jupyterlab):
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = open_notebook(browser, jupyterlab, "03_run_the_pipeline.ipynb")
        page.evaluate(RUN_ALL)
        view = page.locator(".lab-pipeline-view").first
        view.wait_for(state="attached", timeout=60_000)
        states, texts = [], []  # each distinct (Source, Build, Deploy) status the live view showed, in order
        while not page.evaluate(IDLE % "undefined"):
            texts.append(view.inner_text())
            shown = dict(reversed(STAGE_STATUS.findall(texts[-1])))  # the card's, not its action's
            state = tuple(shown.get(stage) for stage in ("Source", "Build", "Deploy"))
            if None not in state and (not states or states[-1] != state):
                states.append(state)
            page.wait_for_timeout(150)
        page.screenshot(path=str(ARTIFACTS / "03_run_the_pipeline.png"), full_page=True)
        errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]').count()
        view.scroll_into_view_if_needed()  # JupyterLab skips drawing cells out of sight
        text = view.inner_text()
        page.screenshot(path=str(ARTIFACTS / "03_pipeline_view.png"))
    assert errors == 0, "a cell of 03_run_the_pipeline failed in JupyterLab (see the screenshot)"
    live = [state for state in states if "InProgress" in state]
    assert len(live) >= 3, f"the live view showed {states}; its texts: {texts[:3]} ... {texts[-3:]}"
    assert states[-1] == ("Succeeded",) * 3, states
    for stage in ("Source", "Build", "Deploy"):
        assert stage in text


@pytest.mark.parametrize("jupyterlab", ["07_production_ready.ipynb"], indirect=True)
def test_07_approve_in_the_panel_then_the_next_cell_passes_at_once(jupyterlab):
    name = "07_production_ready.ipynb"
    panel_cell = code_index(name, 'panel = ApprovalPanel(lab, stage="Approve")')
    assert code_index(name, "panel.approve(") == panel_cell + 1
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = open_notebook(browser, jupyterlab, name)
        for index in range(panel_cell + 1):
            run_cell(page, index)
        approve = page.locator(".jp-OutputArea button", has_text="Approve").last
        approve.wait_for(state="visible", timeout=60_000)
        approve.click()
        page.locator(".jp-OutputArea-output", has_text="Approved:").last.wait_for(timeout=60_000)
        started = time.monotonic()
        run_cell(page, panel_cell + 1)
        seconds = time.monotonic() - started
        page.screenshot(path=str(ARTIFACTS / "07_approval_panel.png"), full_page=True)
        output = page.evaluate(
            """(index) => {
                const panel = window.jupyterapp.shell.currentWidget;
                const code = panel.content.widgets.filter(c => c.model.type === 'code');
                return JSON.stringify(code[index].model.sharedModel.outputs);
            }""",
            panel_cell + 1,
        )
    assert "error" not in json.loads(output)[0].get("output_type", ""), output
    assert "already answered in the panel" in output, output
    assert seconds < 15, f"the cell after the panel took {seconds:.0f} s; it should pass at once"
