"""The documentation site builds as ``make docs`` builds it: warnings as errors, offline,
the API reference from the docstrings and the five tutorials executed, outputs included.

One build (a few minutes: it runs the tutorials at their small size) into a temporary
folder, shared by the tests of this file.
"""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built site's folder; its parent holds myst-nb's executed notebooks (jupyter_execute/)."""
    for module in ("sphinx", "myst_nb", "numpydoc", "pydata_sphinx_theme"):
        pytest.importorskip(module, reason="the docs extra is missing: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("docs") / "html"
    result = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
                             "-d", str(out.parent / "doctrees"), str(ROOT / "docs"), str(out)],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"make docs would fail:\n{result.stderr[-6000:]}"
    return out


def test_tutorials_are_all_in_the_site():
    linked = sorted(p.stem for p in (ROOT / "docs" / "tutorials").glob("*.ipynb"))
    assert linked == TUTORIALS and len(TUTORIALS) == 5, "docs/tutorials/ needs a link to each notebook"


def page_ids(html):
    return set(re.findall(r'id="([\w.]+)"', html))


@pytest.mark.parametrize("page, names", [
    ("session", ["plsd_widget.Session", "plsd_widget.Session.finetune", "plsd_widget.Session.shift",
                 "plsd_widget.Session.saliency", "plsd_widget.widget.PLSDWidget"]),
    ("embedding", ["plsd_widget.ParametricTSNE", "plsd_widget.ParametricTSNE.fit",
                   "plsd_widget.embedding.quality.knn_recall"]),
    ("finetune", ["plsd_widget.FinetuneConfig", "plsd_widget.PLSDTrainer", "plsd_widget.finetune.plsd_loss"]),
    ("replay", ["plsd_widget.replay", "plsd_widget.saved_session.save_session"]),
    ("edits", ["plsd_widget.edits.EditLog", "plsd_widget.edit_files.read_edit_log",
               "plsd_widget.edit_planner.plan_edits"]),
    ("measuring", ["plsd_widget.metrics.MetricsTable", "plsd_widget.declutter.declutter_scores",
                   "plsd_widget.density.grid_densities", "plsd_widget.contours.density_contours"]),
    ("analysis", ["plsd_widget.neighbors.NeighborIndex", "plsd_widget.analysis.diverse.select_diverse",
                  "plsd_widget.analysis.saliency.integrated_gradients",
                  "plsd_widget.analysis.subtypes.find_subtypes"]),
])
def test_api_reference_documents_the_public_api(site, page, names):
    html = (site / "api" / f"{page}.html").read_text()
    assert not set(names) - page_ids(html)
    assert "Parameters" in html and "Returns" in html  # numpydoc sections, rendered


@pytest.mark.parametrize("name, shown", [
    ("01_quickstart", ["F1 PLSD", "F1 baseline (CE)", "_images/widget.png"]),
    ("02_reproduce_paper", ["F1 PLSD", "class-balanced CE", "<svg"]),
    ("03_parametric_tsne", ["LocalExpertsEncoder", "gradient w.r.t. the input", "<svg"]),
    ("04_fix_a_shortcut", ["strays moved", "kNN purity", "<svg"]),
    ("05_look_inside", ["precision@10", "ARI against the mirrored half", "_images/widget.png"]),
])
def test_tutorials_are_rendered_with_their_outputs(site, name, shown):
    html = (site / "tutorials" / f"{name}.html").read_text()
    assert html.count('class="cell_output') >= 3
    assert not [s for s in shown if s not in html]
    assert "Traceback" not in html and "widget-view+json" not in html
    executed = nbformat.read(site.parent / "jupyter_execute" / "tutorials" / f"{name}.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]


def test_site_loads_nothing_from_the_network(site):
    remote = re.compile(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//', re.IGNORECASE)
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 5 + 8
    assert not [p.relative_to(site) for p in pages if remote.search(p.read_text())]


# What each tutorial shows, read from the notebooks the build executed (at PLSD_DOCS_SMALL's size).
def executed(site, name):
    """``(notebook, outputs of its code cells, their printed text, their HTML)`` as the build ran it."""
    nb = nbformat.read(site.parent / "jupyter_execute" / "tutorials" / f"{name}.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    return nb, outputs, printed, html


def test_quickstart_edits_into_empty_space_and_compares_with_the_baseline(site):
    nb, _, _, _ = executed(site, "01_quickstart")
    edited = next(c for c in nb.cells if "scripted_edit(session)" in c.source)
    printed = "".join(o.get("text", "") for o in edited.outputs)
    assert "into empty space" in printed  # the planner's edit, not one class dropped onto another
    assert "crowding warning: none, every target lies in empty space" in printed
    compared = next(c for c in nb.cells if "session.run_baseline(block=True)" in c.source)
    last = compared.outputs[-1]["data"]["text/html"]
    assert "F1 baseline (CE)" in last and "F1 PLSD" in last


def test_parametric_tsne_tutorial_shows_both_encoders(site):
    _, outputs, printed, _ = executed(site, "03_parametric_tsne")
    assert "TSNEEncoder" in printed and "LocalExpertsEncoder with 8 regions" in printed
    assert "gradient w.r.t. the input: (4, 64)" in printed
    assert sum(o.get("data", {}).get("text/html", "").count("<svg") for o in outputs) == 2


def test_shortcut_tutorial_moves_strays_and_compares(site):
    _, _, printed, html = executed(site, "04_fix_a_shortcut")
    assert "digit 4: " in printed and "strays moved" in printed and "oracle: unshifted" in printed
    assert "F1 baseline (CE)" in html and "F1 PLSD" in html and "kNN purity (k=10)" in html
    assert html.count("<svg") >= 2 + 6 + 1  # two embeddings, six marked 4s and at least one unmarked


def test_look_inside_tutorial_measures_what_it_says(site):
    _, _, printed, html = executed(site, "05_look_inside")
    assert len(re.findall(r"precision@10 = [01]\.\d{3}", printed)) == 6
    fps, randomly = (float(v) for v in re.findall(r"closest pair (\d+\.\d+)", printed)[::2])
    assert fps > randomly  # furthest-point picks stay further apart than random ones
    assert len(re.findall(r"mean Spearman -?[01]\.\d{3}", printed)) == 2
    steps = re.search(r"each 4's move along 4s -> 9s, a small step along its map: \[([^\]]*)\]", printed)
    assert steps and all(float(v) > 0 for v in steps.group(1).split())  # the map's sign: toward the 9s
    assert re.search(r"digit 7: k = \d", printed) and "ARI against the mirrored half" in printed
    assert html.count("<polyline") >= 1 and html.count("<figure") >= 9 + 20 + 16
