"""Fixtures: a real JupyterLab and Notebook 7 on loopback and Debian's Chromium driven by Playwright (no browser download)."""

import pytest

from tests.browser.jupyter import ARTIFACTS, CHROMIUM_ARGS, JupyterServer, chromium_executable


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory):
    yield from serve(tmp_path_factory, "lab")


@pytest.fixture(scope="session")
def jupyter_notebook(tmp_path_factory):
    yield from serve(tmp_path_factory, "notebook")


def serve(tmp_path_factory, front_end):
    base = tmp_path_factory.mktemp(front_end)
    (base / "notebooks").mkdir()
    (base / "runtime").mkdir()
    server = JupyterServer(base / "notebooks", base / "runtime", front_end)
    yield server
    server.stop()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        context.close()
        browser.close()
