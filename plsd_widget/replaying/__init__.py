"""Headless replay: a saved edit log applied to the same model and data, fine-tuned, written out.

``plsd-widget replay DIR`` (or :func:`replay`) rebuilds the view an edit log was made on
from a folder written by :meth:`Session.save <plsd_widget.session.Session.save>` (the
start weights, the embedding, ``edits.json``), checks the log's fingerprint against the
positions that model and embedding give on the data (:mod:`.sources`), fine-tunes with
PLSD with one :class:`~plsd_widget.config.FinetuneConfig` (:mod:`.run`; on several
processes under ``torchrun``, :mod:`.launch`), and writes one folder (:mod:`.outputs`),
whole or not at all. Input problems raise :class:`ReplayError` before anything is
written; the command line exits with status 2 on them.

(The package is ``replaying``, not ``replay``: a subpackage ``plsd_widget.replay`` would
shadow the function ``plsd_widget.replay`` once imported.)
"""

from plsd_widget.replaying.launch import DDP_TOLERANCE, WorkersFailed
from plsd_widget.replaying.outputs import OUTPUT_FILES, ReplayResult
from plsd_widget.replaying.run import replay
from plsd_widget.replaying.sources import ReplayError

__all__ = ["DDP_TOLERANCE", "OUTPUT_FILES", "ReplayError", "ReplayResult", "WorkersFailed", "replay"]
