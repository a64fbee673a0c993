#!/usr/bin/env bash
# The install a user does: build the wheel from a clean copy of the source (the JS bundle is
# built by the hatch-jupyter-builder hook), install it with the CPU torch into a fresh venv,
# and use it from a directory outside the source tree. One line per check; exits 1 on the
# first failure, showing the end of that step's log.
#
#   PYTHON=python3.11             the interpreter of the fresh venv (default: python3)
#   TORCH_REQUIREMENT=...          installed before the wheel (default: torch==2.13.0, the
#                                  CPU wheel on this project's machines; plain 'torch' would pull CUDA)
#   TMPDIR=...                     where the temp directory goes (default: /dev/shm when it has
#                                  4 GiB free: deleting a venv with torch on a busy disk took 80 s)
#   KEEP=1                         keep the temp directory (its path is printed)
# Reruns are fast through pip's and npm's own caches, which this script leaves on. Installs
# skip byte-compiling (--no-compile): torch's thousands of .py files cost a minute on 2 cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
TORCH_REQUIREMENT=${TORCH_REQUIREMENT:-torch==2.13.0}
parent=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ] && [ "$(df -k --output=avail /dev/shm | tail -n 1)" -gt 4194304 ]; then
    parent=/dev/shm
fi
WORK=$(mktemp -d "$parent/plsd-wheel-XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "temp directory: $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
mkdir -p "$WORK/src" "$WORK/dist" "$WORK/elsewhere"
started=$SECONDS

check() {  # check "what" command...: run it, print one line, stop on failure
    local what=$1 t0=$SECONDS log="$WORK/step.log"
    shift
    if "$@" >"$log" 2>&1; then
        echo "ok    $what ($((SECONDS - t0)) s)"
    else
        echo "FAIL  $what ($((SECONDS - t0)) s); end of its log:"
        grep -v "^WARNING: Location" "$log" | tail -n 25 | sed 's/^/      /'
        exit 1
    fi
}

copy_source() {  # tracked and new files only: no node_modules, no prebuilt bundle, no .venv
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -I{} sh -c '[ -e "$1" ] && printf "%s\0" "$1" || true' _ {} \
        | tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
    [ ! -e "$WORK/src/plsd_widget/static/widget.js" ]
}

in_venv() { (cd "$WORK/elsewhere" && "$WORK/venv/bin/$1" "${@:2}"); }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")

check "copy the source without build outputs" copy_source
check "fresh venv from $PYTHON" "$PYTHON" -m venv "$WORK/venv"
check "build the wheel (npm builds the bundle)" \
    "$WORK/venv/bin/python" -m pip wheel --no-deps -w "$WORK/dist" "$WORK/src"
wheel=$(ls "$WORK"/dist/plsd_widget-*.whl)
check "the wheel holds static/widget.js and widget.css" "$WORK/venv/bin/python" -c "
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
missing = {'plsd_widget/static/widget.js', 'plsd_widget/static/widget.css'} - names
sys.exit(f'missing from the wheel: {sorted(missing)}' if missing else 0)" "$wheel"
check "install $TORCH_REQUIREMENT" "$WORK/venv/bin/python" -m pip install --no-compile "$TORCH_REQUIREMENT"
check "install $(basename "$wheel")" "$WORK/venv/bin/python" -m pip install --no-compile "$wheel"

check "import plsd_widget $version from site-packages, not the source" in_venv python -c "
import importlib.metadata, pathlib, sys, plsd_widget
where = pathlib.Path(plsd_widget.__file__).resolve()
assert where.is_relative_to(pathlib.Path(sys.prefix).resolve()), f'imported from {where}'
assert plsd_widget.__version__ == importlib.metadata.version('plsd_widget') == '$version', plsd_widget.__version__"
check "the installed package holds the widget bundle" in_venv python -c "
from importlib.resources import files
esm = (files('plsd_widget') / 'static' / 'widget.js').read_text(encoding='utf-8')
css = (files('plsd_widget') / 'static' / 'widget.css').read_text(encoding='utf-8')
assert len(esm) > 50_000 and 'export' in esm and 'render' in esm, f'widget.js looks wrong ({len(esm)} chars)'
assert css.strip(), 'widget.css is empty'"
check "plsd-widget --help" sh -c "cd '$WORK/elsewhere' && '$WORK/venv/bin/plsd-widget' --help | grep -q 'demo'"
check "smoke: t-SNE on 300 digits, a session, its widget, one PLSD epoch" in_venv python -c "
import numpy as np
from plsd_widget.activations import extract_activations
from plsd_widget.datasets import load_digits_split
from plsd_widget.embedding import ParametricTSNE
from plsd_widget.models import seeded_model
from plsd_widget.session import Session

train, _ = load_digits_split()
x, y = train.images[:300], train.labels[:300]
model = seeded_model()
embedding = ParametricTSNE(perplexity=20, n_epochs=5, pretrain_epochs=2, random_state=0)
embedding.fit(extract_activations(model, 'latent', x))
session = Session(model, 'latent', x, y, class_names=train.class_names, embedding=embedding, autosave='autosave')
view = session.widget()
assert 'export' in view._esm and np.frombuffer(view.positions, np.float32).size == 2 * len(x)
before = session.positions.copy()
session.shift('0', (2.0, 0.0))
session.finetune(epochs=1, lam=0.5, block=True)
assert np.isfinite(session.positions).all() and not np.allclose(session.positions, before)"

echo "all checks passed in $((SECONDS - started)) s"
