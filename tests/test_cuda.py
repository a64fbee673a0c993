"""The CUDA path: activations, fine-tuning with mixed precision and a whole session on the GPU.

Skipped without a CUDA device; ``scripts/gpu_check.sh`` runs them (``-m cuda``) on a GPU machine.
"""

import numpy as np
import pytest
import torch

from plsd_widget.activations import extract_activations
from plsd_widget.finetune import PLSDTrainer
from plsd_widget.session import Session

pytestmark = pytest.mark.cuda


def test_activations_on_cuda_match_the_cpu(trained_cnn, digits):
    images = digits[0].images
    on_cpu = extract_activations(trained_cnn, "latent", images, device="cpu")
    on_gpu = extract_activations(trained_cnn, "latent", images, device="cuda")
    # cuDNN convolutions use TF32 by default: about three decimal digits, not float32's seven
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-2, atol=1e-2)
    assert next(trained_cnn.parameters()).device.type == "cpu"


def test_amp_finetuning_on_cuda_pulls_edited_points_and_leaves_the_model_on_the_cpu(trained_cnn, digits,
                                                                                     fitted_embedding):
    train = digits[0]
    before = fitted_embedding.transform(extract_activations(trained_cnn, "latent", train.images, device="cpu"))
    edited = train.labels == 3
    targets = np.full_like(before, np.nan)
    targets[edited] = before[edited] + np.float32([8.0, 0.0])
    trainer = PLSDTrainer(trained_cnn, "latent", fitted_embedding.encoder_, lam=0.8, lr=0.01, epochs=3, anchor=0.0,
                          scale=5.0, device="cuda", amp=True, random_state=0)
    result = trainer.fit(train.images, train.labels, targets)
    assert result.epochs_completed == 3 and not result.stopped
    assert all(np.isfinite(list(h.values())).all() for h in result.history)
    assert next(trained_cnn.parameters()).device.type == "cpu"
    after = fitted_embedding.transform(extract_activations(trained_cnn, "latent", train.images, device="cpu"))
    gap_before = np.linalg.norm(before[edited] - targets[edited], axis=1).mean()
    gap_after = np.linalg.norm(after[edited] - targets[edited], axis=1).mean()
    assert gap_after < 0.8 * gap_before


def test_whole_session_on_cuda(trained_cnn, digits, fitted_embedding):
    train, test = digits
    session = Session(trained_cnn, "latent", train.images, train.labels, x_test=test.images, y_test=test.labels,
                      class_names=train.class_names, embedding=fitted_embedding, device="cuda")
    session.shift("3", (4.0, 0.0))
    session.finetune(epochs=1, block=True)
    session.run_baseline(block=True)
    assert np.isfinite(session.positions).all()
    assert list(session.metrics.reports) == ["before", "baseline (CE)", "PLSD"]
