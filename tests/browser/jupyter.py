"""Helpers of the browser tests: a JupyterLab or Notebook 7 server on loopback, a kernel client, condition waits."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
    "--disable-gpu-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    """Poll ``predicate`` until it returns a truthy value; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the condition may not be checkable yet (server starting)
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error else ""))


def chromium_executable() -> str:
    path = os.environ.get("PLSD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Debian's chromium is needed for the browser tests: run `apt-get install -y chromium` "
                    "(or `make setup`), or point PLSD_CHROMIUM at a Chromium binary.")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterServer:
    """A JupyterLab (``front_end="lab"``) or Notebook 7 (``"notebook"``) server on 127.0.0.1 serving ``root``.

    Both expose their application as ``window.jupyterapp``, so a test drives either through
    the same commands (``notebook:run-all-cells``).
    """

    def __init__(self, root: Path, runtime: Path, front_end: str = "lab"):
        self.root, self.runtime, self.front_end = root, runtime, front_end
        self.port, self.token = free_port(), secrets.token_hex(16)
        settings = root.parent / "settings"
        # Own user settings: nothing from the developer's JupyterLab, and no news prompt.
        news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text(json.dumps({"fetchNews": "false"}))
        env = os.environ | {"JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTERLAB_SETTINGS_DIR": str(settings),
                            "PYTHONUNBUFFERED": "1"}
        app = {"lab": ["jupyterlab", "--LabApp.expose_app_in_browser=True",
                       f"--LabServerApp.workspaces_dir={root.parent / 'workspaces'}",
                       "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
               "notebook": ["notebook", "--JupyterNotebookApp.expose_app_in_browser=True"]}[front_end]
        self.log = open(root.parent / f"jupyter-{front_end}.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", app[0], "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", f"--ServerApp.token={self.token}",
             f"--ServerApp.root_dir={root}", *app[1:]],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=root,
        )
        wait_until(lambda: self.api("status"), 120, f"the {front_end} server to answer on loopback")

    def notebook_url(self, name: str) -> str:
        """Where the front end opens notebook ``name``; in JupyterLab, in a workspace of its own
        (JupyterLab would otherwise restore earlier tests' tabs)."""
        if self.front_end == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        workspace = name.removesuffix(".ipynb").replace("_", "-")
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?token={self.token}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str):
        if self.proc.poll() is not None:
            raise RuntimeError(f"the {self.front_end} server exited with {self.proc.returncode}; see {self.log.name}")
        with urllib.request.urlopen(f"{self.url}/api/{path}?token={self.token}", timeout=5) as reply:
            return json.load(reply)

    @contextlib.contextmanager
    def kernel_client(self, notebook: str):
        """A client on the kernel of the open ``notebook``, to read the session's state directly."""
        from jupyter_client import BlockingKernelClient

        def kernel_id():
            return next((s["kernel"]["id"] for s in self.api("sessions") if s["path"] == notebook), None)

        kid = wait_until(kernel_id, 120, f"a kernel for {notebook}")
        client = BlockingKernelClient(connection_file=str(self.runtime / f"kernel-{kid}.json"))
        client.load_connection_file()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            yield client
        finally:
            client.stop_channels()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def kernel_json(client, expression: str):
    """Evaluate ``expression`` in the kernel and return it, JSON-decoded."""
    out = []

    def hook(msg):
        if msg["header"]["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        elif msg["header"]["msg_type"] == "error":
            out.append("ERROR " + "\n".join(msg["content"]["traceback"]))

    reply = client.execute_interactive(f"import json as _json; print(_json.dumps({expression}))",
                                       timeout=60, output_hook=hook, store_history=False)
    text = "".join(out)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"kernel failed to evaluate {expression!r}: {text}")
    return json.loads(text)
