"""Checkpoints in bounded memory: two state dicts in memory, the other epochs in files that go with the session."""

import gc
import os

import numpy as np
import pytest
import torch
from torch import nn

from plsd_widget.session.checkpoints import Checkpoints


def _state(seed, size=10):
    generator = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(size, size, generator=generator), "b": torch.randn(size, generator=generator),
            "steps": torch.tensor(seed)}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_every_epoch_reads_back_and_only_two_stay_in_memory(tmp_path):
    checkpoints = Checkpoints(_state(0), folder=tmp_path)
    for epoch in range(1, 6):
        assert checkpoints.append(_state(epoch)) == epoch
    assert len(checkpoints) == 6 and sorted(checkpoints._in_memory) == [0, 5]
    assert sorted(p.name for p in checkpoints.folder.iterdir()) == [f"epoch-0000{i}.safetensors" for i in range(1, 5)]
    assert all(_same(checkpoints[i], _state(i)) for i in range(6)) and _same(checkpoints[-1], _state(5))
    assert [int(state["steps"]) for state in checkpoints] == list(range(6))
    with pytest.raises(IndexError, match=r"epoch must be in \[0, 5\], got 6"):
        checkpoints[6]

    checkpoints.truncate(3)  # a rollback to epoch 2, which is in its file
    assert len(checkpoints) == 3 and sorted(p.name for p in checkpoints.folder.iterdir())[-1].startswith("epoch-00002")
    assert checkpoints.append(_state(7)) == 3 and _same(checkpoints[2], _state(2)) and _same(checkpoints[3], _state(7))

    folder = checkpoints.folder
    checkpoints.close()
    assert not folder.exists() and len(checkpoints) == 1 and _same(checkpoints[0], _state(0))


def test_the_folder_goes_with_the_object_and_copies_share_nothing_with_the_model(tmp_path):
    model = nn.Linear(4, 4)
    checkpoints = Checkpoints(model.state_dict(), folder=tmp_path)
    with torch.no_grad():
        model.weight.add_(1.0)  # the start copy does not follow the model
    assert not torch.equal(checkpoints[0]["weight"], model.weight)
    checkpoints.append(model.state_dict())
    checkpoints.append(model.state_dict())
    folder = checkpoints.folder
    assert folder.parent == tmp_path and folder.exists()
    del checkpoints
    gc.collect()
    assert not folder.exists()


class WideMLP(nn.Module):
    """A classifier of about 8 MB of weights with a 16-wide layer "latent"."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 2048), nn.ReLU())
        self.latent = nn.Sequential(nn.Linear(2048, 16), nn.ReLU())
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.latent(self.features(x.flatten(1))))


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident size from /proc")
def test_resident_memory_stays_flat_over_twenty_epochs_and_every_epoch_rolls_back(digits, tmp_path):
    from plsd_widget.activations import extract_activations
    from plsd_widget.embedding import ParametricTSNE
    from plsd_widget.session import Session

    train, _ = digits
    x, y = train.images[:200], train.labels[:200]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = WideMLP()
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    assert size > 8e6
    embedding = ParametricTSNE(perplexity=10, n_epochs=10, random_state=0, device="cpu").fit(
        extract_activations(model, "latent", x))
    session = Session(model, "latent", x, y, embedding=embedding, device="cpu", checkpoint_dir=tmp_path)
    session.shift("3", (1.0, 1.0))
    weights, resident = {}, {}

    def on_epoch():
        epoch = len(session.checkpoints) - 1
        weights[epoch] = model.state_dict()["head.weight"].clone()
        resident[epoch] = _resident_bytes()

    session.on("positions", on_epoch)
    session.finetune(epochs=20, lr=1e-4, batch_size=200, block=True)
    grown = resident[20] - resident[3]
    # keeping every epoch's state dict in memory (as before) grew it by 17 x 8.8 MB, 150 MB (measured: 160 MB)
    assert len(session.checkpoints) == 21 and grown < 3 * size, f"resident size grew by {grown / 1e6:.0f} MB"
    assert len(list(session.checkpoints.folder.iterdir())) == 19  # epochs 1 to 19; 20 is in memory
    for epoch in (20, 7, 2, 0):
        session.rollback(epoch)
        assert torch.equal(model.state_dict()["head.weight"], weights.get(epoch, session.start_weights["head.weight"]))
        assert np.isfinite(session.positions).all() and len(session.history) == epoch
    folder = session.checkpoints.folder
    session.close()
    assert not folder.exists()


def test_an_epoch_that_is_not_there_is_refused_with_the_range():
    checkpoints = Checkpoints({"w": torch.zeros(2)})
    checkpoints.append({"w": torch.ones(2)})
    assert torch.equal(checkpoints[-1]["w"], torch.ones(2))
    with pytest.raises(IndexError, match=r"epoch must be in \[0, 1\], got 2"):
        checkpoints[2]
    with pytest.raises(TypeError, match="checkpoints are indexed by epoch"):
        checkpoints["1"]
