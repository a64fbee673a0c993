"""The names users start from are importable from the package, lazily."""

import subprocess
import sys


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
