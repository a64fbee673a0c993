"""Fixtures: a real JupyterLab on loopback and Debian's Chromium driven by Playwright (no browser download)."""

import pytest

from tests.browser.jupyter import ARTIFACTS, CHROMIUM_ARGS, JupyterLab, chromium_executable


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab")
    (base / "notebooks").mkdir()
    (base / "runtime").mkdir()
    lab = JupyterLab(base / "notebooks", base / "runtime")
    yield lab
    lab.stop()


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
