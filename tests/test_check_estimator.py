"""scikit-learn's own ``check_estimator`` on ParametricTSNE (plsd_widget.embedding.parametric).

The checks fit on 10 to 100 points, so the configurations are small and fast (as
scikit-learn's own tests configure ``TSNE(perplexity=2)``): exact full-batch training,
and neighbourhood batches (``batch_size=8``). Scheme "distil" is not checked here: its
layout takes 750 iterations per fit, and several checks set ``n_components=1``, which
its 2-D grid cannot do (``test_parametric.py`` tests it).

They run in a fresh process with ``SCIPY_ARRAY_API=1``, which must be set before scipy
is imported and without which scikit-learn skips its array-API check.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUN_CHECKS = """
import json, warnings
from sklearn.utils.estimator_checks import check_estimator
from plsd_widget.embedding import ParametricTSNE
warnings.simplefilter("ignore")
FAST = dict(perplexity=2, hidden=(8,), n_epochs=2, pretrain_epochs=1, device="cpu")
results = {}
for mode, params in {"exact": FAST, "batch": dict(FAST, batch_size=8, scheme="batch")}.items():
    for r in check_estimator(ParametricTSNE(**params), on_fail=None):
        results.setdefault(mode, []).append([r["check_name"], r["status"], repr(r["exception"])])
print(json.dumps(results))
"""


def test_parametric_tsne_passes_scikit_learns_check_estimator():
    env = {**os.environ, "SCIPY_ARRAY_API": "1", "PLSD_WARM_UP": "0", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", RUN_CHECKS], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=600, check=True)
    results = json.loads(result.stdout.strip().splitlines()[-1])
    for mode, checks in results.items():
        assert len(checks) >= 47, (mode, len(checks))
        # "xfail" would be a check declared in expected_failed_checks; none is needed today
        not_passed = [check for check in checks if check[1] not in ("passed", "xfail")]
        assert not_passed == [], (mode, not_passed)
