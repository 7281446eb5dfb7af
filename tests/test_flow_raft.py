"""The optional RAFT backend, on fake ptlflow and torchvision modules with random weights.

Neither package is needed: tiny networks with RAFT's calling conventions stand in for them
(torchvision: ``model(rgb0, rgb1, num_flow_updates=N)`` -> list of ``(B, 2, H, W)``, RGB in
``[-1, 1]``; ptlflow: ``model({"images": (B, 2, 3, H, W)})`` -> ``{"flows": (B, 1, 2, H, W)}``,
BGR in ``[0, 1]``). Their flow encodes what they saw, so the tests check the padding, the
crop, the channel order, the value range and that flow is passed on unscaled.
"""

from __future__ import annotations

import sys
import types
from argparse import Namespace

import numpy as np
import pytest
import torch

from motionlayers.errors import InputError
from motionlayers.flow import get_backend, iter_flows
from motionlayers.flow.raft import RAFTBackend, pad_frames

WIDTHS = {"raft_large": 4, "raft_small": 2}  # conv channels: the variants' weights differ


class FakeTorchvisionRAFT(torch.nn.Module):
    """u = the padded column index x (pixels), v = channel 0 of image1 (R in [-1, 1])."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, width, 3)
        self.seen: list[tuple[torch.Tensor, torch.Tensor, int]] = []

    def forward(self, image1, image2, num_flow_updates=12):
        assert image1.shape == image2.shape and image1.shape[-1] % 8 == 0
        assert image1.shape[-2] % 8 == 0
        self.seen.append((image1.clone(), image2.clone(), num_flow_updates))
        batch, _, height, width = image1.shape
        xs = torch.arange(width, dtype=torch.float32).expand(batch, height, width)
        flow = torch.stack([xs, image1[:, 0]], dim=1)
        return [flow * 0.5] * (num_flow_updates - 1) + [flow]


class FakePtlflowRAFT(FakeTorchvisionRAFT):
    """ptlflow's convention; v = channel 0 of image1 (B in [0, 1])."""

    def __init__(self, width: int):
        super().__init__(width)
        self.args = Namespace(iters=12)

    def forward(self, inputs):
        images = inputs["images"]
        assert images.ndim == 5 and images.shape[1:3] == (2, 3)
        self.seen.append((images[:, 0].clone(), images[:, 1].clone(), self.args.iters))
        batch, _, _, height, width = images.shape
        xs = torch.arange(width, dtype=torch.float32).expand(batch, height, width)
        return {"flows": torch.stack([xs, images[:, 0, 0]], dim=1)[:, None]}


@pytest.fixture
def fake_packages(monkeypatch):
    """Fake ``torchvision.models.optical_flow`` and ``ptlflow`` in sys.modules."""
    vision = types.ModuleType("torchvision.models.optical_flow")
    vision.raft_large = lambda weights=None: FakeTorchvisionRAFT(WIDTHS["raft_large"])
    vision.raft_small = lambda weights=None: FakeTorchvisionRAFT(WIDTHS["raft_small"])
    ptl = types.ModuleType("ptlflow")
    names = {"raft": "raft_large", "raft_small": "raft_small"}
    ptl.get_model = lambda name: FakePtlflowRAFT(WIDTHS[names[name]])
    monkeypatch.setitem(sys.modules, "torchvision.models.optical_flow", vision)
    monkeypatch.setitem(sys.modules, "ptlflow", ptl)


def checkpoint(tmp_path, model="raft_small", lightning=False, seed=0):
    """Random weights of a fake variant saved as torchvision (plain) or ptlflow (Lightning)."""
    torch.manual_seed(seed)
    state = FakeTorchvisionRAFT(WIDTHS[model]).state_dict()
    path = tmp_path / f"{model}{'.ckpt' if lightning else '.pth'}"
    torch.save({"state_dict": state, "epoch": 3} if lightning else state, path)
    return path, state


def bgr_frames(height=20, width=30):
    """Frame0 with B=51, G=128, R=255 everywhere; frame1 random."""
    frame0 = np.empty((height, width, 3), np.uint8)
    frame0[...] = (51, 128, 255)
    frame1 = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return frame0, frame1


def test_torchvision_round_trip_padding_and_conventions(tmp_path, fake_packages):
    path, state = checkpoint(tmp_path, "raft_small")
    backend = get_backend(f"raft:{path}", package="torchvision", iterations=5)
    assert backend.colour and backend.batch_size > 1 and backend.model_name == "raft_small"
    for key, value in state.items():  # the random weights were loaded, strictly
        torch.testing.assert_close(backend.network.state_dict()[key], value)
    frame0, frame1 = bgr_frames(20, 30)
    flow = backend(frame0, frame1)
    assert flow.shape == (20, 30, 2) and flow.dtype == np.float32
    np.testing.assert_array_equal(flow[..., 0], np.tile(np.arange(30), (20, 1)))  # unscaled
    np.testing.assert_allclose(flow[..., 1], 1.0)  # R = 255 -> +1: RGB in [-1, 1]
    image1, image2, updates = backend.network.seen[-1]
    assert image1.shape == (1, 3, 64, 64) and updates == 5  # padded to >= 64, multiple of 8
    assert image1.min() >= -1 and image2.max() <= 1
    torch.testing.assert_close(
        image1[0, :, :20, :30].mean((1, 2)), torch.tensor([1.0, 0.0039, -0.6]), atol=1e-3, rtol=0
    )
    # Replicated border: the padding repeats the last row and column.
    torch.testing.assert_close(image2[0, :, 63, 63], image2[0, :, 19, 29])


def test_ptlflow_conventions_and_lightning_checkpoint(tmp_path, fake_packages):
    path, _ = checkpoint(tmp_path, "raft_large", lightning=True)
    backend = get_backend("raft", checkpoint=path, package="ptlflow", iterations=7)
    assert backend.package == "ptlflow" and backend.model_name == "raft_large"
    assert backend.network.args.iters == 7
    frame0, frame1 = bgr_frames(72, 90)
    flow = backend(frame0, frame1)
    assert flow.shape == (72, 90, 2)
    np.testing.assert_allclose(flow[..., 1], 51 / 255, atol=1e-6)  # BGR, [0, 1]
    np.testing.assert_array_equal(flow[0, :, 0], np.arange(90))
    assert backend.network.seen[-1][0].shape == (1, 3, 72, 96)


def test_auto_package_prefers_ptlflow_then_torchvision(tmp_path, fake_packages, monkeypatch):
    path, _ = checkpoint(tmp_path)
    assert get_backend("raft", checkpoint=path).package == "ptlflow"
    monkeypatch.setitem(sys.modules, "ptlflow", None)  # import fails
    assert get_backend("raft", checkpoint=path).package == "torchvision"


def test_batches_match_single_pairs(tmp_path, fake_packages):
    path, _ = checkpoint(tmp_path)
    backend = get_backend(f"raft:{path}", package="torchvision", batch_size=2)
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(6)]
    flows = backend.compute_pairs(frames[:-1], frames[1:])
    assert [seen[0].shape[0] for seen in backend.network.seen] == [2, 2, 1]
    for flow, frame0, frame1 in zip(flows, frames[:-1], frames[1:]):
        np.testing.assert_array_equal(flow, backend(frame0, frame1))
    # Grey frames reach the colour network replicated to three channels.
    grey = frames[0][:, :, 0]
    flow = backend(grey, grey)
    np.testing.assert_allclose(flow[..., 1], grey / 127.5 - 1, atol=1e-6)


def test_iter_flows_batches_raft_pairs(tmp_path, fake_packages):
    import cv2

    (tmp_path / "frames").mkdir()
    rng = np.random.default_rng(2)
    for t in range(5):
        cv2.imwrite(
            str(tmp_path / "frames" / f"f{t}.png"), rng.integers(0, 256, (16, 24, 3), np.uint8)
        )
    path, _ = checkpoint(tmp_path)
    backend = get_backend(f"raft:{path}", package="torchvision", batch_size=3)
    items = list(iter_flows(tmp_path / "frames", backend, progress=False))
    assert [stem for stem, _, _ in items] == ["f0", "f1", "f2", "f3"]
    assert [seen[0].shape[0] for seen in backend.network.seen] == [3, 1]
    assert all(flow.shape == (16, 24, 2) for _, _, flow in items)


def test_errors_name_what_is_missing(tmp_path, fake_packages, monkeypatch):
    with pytest.raises(InputError, match=r"^flow backend: raft needs a checkpoint .* raft:PATH"):
        get_backend("raft")
    with pytest.raises(InputError, match=r"missing\.pth: RAFT checkpoint file does not exist"):
        get_backend(f"raft:{tmp_path / 'missing.pth'}")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"garbage\.pth: cannot be read as a PyTorch checkpoint"):
        get_backend(f"raft:{tmp_path / 'garbage.pth'}")
    torch.save({"note": "no tensors"}, tmp_path / "strings.pth")
    with pytest.raises(InputError, match="not a state dict of tensors"):
        get_backend(f"raft:{tmp_path / 'strings.pth'}")
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(
        InputError, match="does not hold RAFT weights that fit raft_large: .*raft_small"
    ):
        get_backend(f"raft:{tmp_path / 'other.pth'}", package="torchvision")
    path, _ = checkpoint(tmp_path)
    with pytest.raises(InputError, match="raft package: unknown 'jax'"):
        get_backend(f"raft:{path}", package="jax")
    with pytest.raises(InputError, match="iterations: expected an integer >= 1"):
        get_backend(f"raft:{path}", iterations=0)
    with pytest.raises(InputError, match="--device"):
        get_backend(f"raft:{path}", device="banana")
    monkeypatch.setitem(sys.modules, "ptlflow", None)
    monkeypatch.setitem(sys.modules, "torchvision.models.optical_flow", None)
    with pytest.raises(InputError, match=r"needs ptlflow or torchvision .*'pip install ptlflow'"):
        get_backend(f"raft:{path}")
    with pytest.raises(InputError, match=r"needs torchvision .*'pip install torchvision'"):
        get_backend(f"raft:{path}", package="torchvision")


def test_weights_are_read_without_running_code(tmp_path, fake_packages):
    """A checkpoint that pickles an arbitrary object is refused (weights_only=True)."""
    torch.save({"state_dict": Namespace(x=1)}, tmp_path / "object.pth")
    with pytest.raises(InputError, match="cannot be read as a PyTorch checkpoint"):
        RAFTBackend(tmp_path / "object.pth", package="torchvision")


def test_pad_frames():
    images = torch.arange(2 * 3 * 9 * 70, dtype=torch.float32).reshape(2, 3, 9, 70)
    padded = pad_frames(images)
    assert padded.shape == (2, 3, 64, 72)
    torch.testing.assert_close(padded[:, :, :9, :70], images)
    assert pad_frames(torch.zeros(1, 3, 64, 80)).shape == (1, 3, 64, 80)
