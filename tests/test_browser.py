"""03_run_the_pipeline in a real JupyterLab, driven by Playwright in Debian's chromium: all cells run through
JupyterLab's command API, the pipeline view shows Source, Build and Deploy Succeeded, no cell errors.

Notebooks 00–02 run first, headless, so 03 finds what they made. A screenshot goes to test-artifacts/."""

import json
import os
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
NOTEBOOK = "03_run_the_pipeline.ipynb"
pytestmark = needs_chromium


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab on loopback, no token, over a copy of the notebooks (nothing is saved into the repo)."""
    home, folder = tmp_path / "lab", tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder)
    for earlier in sorted(folder.glob("0[0-2]_*.ipynb")):
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


def test_run_the_pipeline_notebook_in_a_real_jupyterlab(jupyterlab):
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{jupyterlab}/lab/tree/{NOTEBOOK}")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session",
            timeout=90_000,
        )
        page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.ready; }")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            """() => {
                const panel = window.jupyterapp.shell.currentWidget;
                const kernel = panel.sessionContext.session.kernel;
                const cells = panel.content.widgets.filter(c => c.model.type === 'code');
                return kernel.status === 'idle' && cells.every(c => c.model.executionCount !== null);
            }""",
            timeout=180_000,
            polling=500,
        )
        page.screenshot(path=str(ARTIFACTS / "03_run_the_pipeline.png"), full_page=True)
        errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]').count()
        view = page.locator(".lab-pipeline-view").last
        view.wait_for(state="attached", timeout=30_000)
        view.scroll_into_view_if_needed()  # JupyterLab skips drawing cells out of sight
        text = view.inner_text()
        page.screenshot(path=str(ARTIFACTS / "03_pipeline_view.png"))
    assert errors == 0, "a cell of 03_run_the_pipeline failed in JupyterLab (see the screenshot)"
    for stage in ("Source", "Build", "Deploy"):
        assert stage in text
    assert text.count("Succeeded") >= 3, text
