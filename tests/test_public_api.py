"""The names users start from are importable from the package, lazily; nothing outside the session
package reaches into a Session."""

import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "plsd_widget"


def _run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_import_plsd_widget_loads_no_torch_and_exports_the_entry_points():
    _run("import sys, plsd_widget; assert 'torch' not in sys.modules, 'import plsd_widget loaded torch'; "
         "from plsd_widget import FinetuneConfig; assert 'torch' not in sys.modules; "
         "from plsd_widget import Session, ParametricTSNE, PLSDTrainer, replay; "
         "import plsd_widget.session, plsd_widget.embedding, plsd_widget.finetune, plsd_widget.replaying; "
         "assert Session is plsd_widget.session.Session and ParametricTSNE is plsd_widget.embedding.ParametricTSNE; "
         "assert PLSDTrainer is plsd_widget.finetune.PLSDTrainer and replay is plsd_widget.replaying.replay; "
         "assert set(plsd_widget.__all__) >= {'Session', 'ParametricTSNE', 'PLSDTrainer', 'FinetuneConfig', 'replay'}")


def test_an_unknown_name_is_an_attribute_error():
    import plsd_widget
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'Sesion'"):
        plsd_widget.Sesion  # noqa: B018


def test_the_replay_function_is_not_shadowed_by_its_package():
    _run("import plsd_widget.replaying.run, plsd_widget.replaying.launch; from plsd_widget import replay; "
         "import plsd_widget.replaying as m; assert replay is m.replay and callable(replay)")


def test_no_module_outside_the_session_package_reads_a_sessions_private_attributes():
    private = re.compile(r"\bsession\._[a-z]")
    found = {str(path.relative_to(PACKAGE)): [line for line in path.read_text().splitlines() if private.search(line)]
             for path in PACKAGE.rglob("*.py") if "session" not in path.relative_to(PACKAGE).parts[:1]}
    assert {path: lines for path, lines in found.items() if lines} == {}
