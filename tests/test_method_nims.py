"""NIMS as a trained method: training, weights, the ``nims`` method, the ``saliency`` rule and
the ``saliency`` command."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from motionlayers.data.saliency import crowd_frame
from motionlayers.errors import InputError
from motionlayers.methods.config import load_config
from motionlayers.methods.nims import (
    NIMSMethod,
    SaliencyScorer,
    build_saliency_datasets,
    export_weights,
    load_nims_model,
    salient_layers,
)
from motionlayers.methods.registry import get_method
from motionlayers.methods.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nims")
    train(load_config("nims-tiny"), out, progress=False)
    return out / "checkpoints" / "last.ckpt"


def _video(folder: Path) -> Path:
    from tests.test_one_path import _frames

    folder.mkdir()
    for i, frame in enumerate(_frames(5, 64, 96)):
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
    return folder


def test_tiny_training_and_weights_round_trip(checkpoint, tmp_path):
    model = load_nims_model(checkpoint)
    assert isinstance(model, NIMSMethod) and not model.training
    flow = torch.randn(2, 2, 32, 32)
    exported = export_weights(checkpoint, tmp_path / "nims.pt", meta={"note": "test"})
    again = load_nims_model(exported)
    torch.testing.assert_close(again(flow), model(flow))
    assert again.weights_meta == {"note": "test"}
    assert model.probability(flow).shape == (2,)


def test_norm_scales_stay_non_negative_after_training(checkpoint):
    model = load_nims_model(checkpoint)
    assert all(float(n.weight.min()) >= 0 for n in model.net.norms)


def test_datasets_of_a_recipe_use_other_seeds_for_validation():
    config = load_config("nims-tiny")
    train_set, val_set = build_saliency_datasets(config)
    assert len(train_set) == 16 and len(val_set) == 8
    assert not torch.equal(train_set[0]["flow"], val_set[0]["flow"])
    config["data"]["source"] = "synthetic"
    with pytest.raises(InputError, match="generated flows"):
        build_saliency_datasets(config)


def test_method_refuses_other_k():
    with pytest.raises(InputError, match="K=2"):
        NIMSMethod(layers=4)


def test_nims_method_gives_two_masks(checkpoint):
    method = get_method("nims", checkpoint=checkpoint)
    assert method.layers == 2
    flow = torch.zeros(2, 2, 32, 32)
    flow[:, 0] = 1.0
    flow[:, :, 10:20, 10:20] = torch.tensor([-2.0, 1.0])[:, None, None]
    masks = method(flow).masks
    assert masks.shape == (2, 2, 32, 32)
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 32, 32))


class _StubScorer:
    """Attribution = a fixed map, to check the rule's bookkeeping."""

    def __init__(self, attribution: torch.Tensor):
        self.map = attribution

    def attribution(self, flow: torch.Tensor) -> torch.Tensor:
        return self.map


def test_salient_layers_keeps_the_relevant_regions_only():
    labels = torch.zeros(1, 8, 12, dtype=torch.long)
    labels[0, 1:3, 1:3] = 1  # relevant object of layer 1
    labels[0, 5:7, 8:10] = 1  # another component of layer 1, not relevant
    labels[0, 5:7, 1:3] = 2  # layer 2, not relevant
    attribution = torch.full((1, 8, 12), 0.1)
    attribution[0, 1:3, 1:3] = 5.0
    attribution[0, 5:7, 1:3] = 0.0
    out, background = salient_layers(labels, torch.zeros(1, 2, 8, 12), _StubScorer(attribution))
    assert int(background[0]) == 0
    expected = torch.zeros_like(labels)
    expected[0, 1:3, 1:3] = 1
    torch.testing.assert_close(out, expected)


def test_classifier_input_size_resizes_the_flow_and_the_relevance():
    model = NIMSMethod(net={"widths": [4, 4, 4], "pool": [1, 1]}, input_size=[16, 24]).eval()
    flow = torch.zeros(1, 2, 32, 48)
    flow[0, 0] = 2.0
    assert model.network_input(flow).shape == (1, 2, 16, 24)
    # resizing halves the vectors, the mean L1 normalisation removes the scale again
    torch.testing.assert_close(
        model.network_input(flow), torch.ones(1, 2, 16, 24) * flow[:1, :, :16, :24].sign()
    )
    attribution = SaliencyScorer(model).attribution(flow)
    assert attribution.shape == (1, 32, 48)


def test_scorer_salient_sets(checkpoint):
    scorer = SaliencyScorer(load_nims_model(checkpoint))
    flow = torch.zeros(2, 2, 32, 32)
    flow[:, :, 8:16, 8:16] = 2.0
    sets, attribution, probability = scorer.salient(flow)
    assert sets.shape == (2, 32, 32) and sets.dtype == bool
    assert attribution.shape == (2, 32, 32) and probability.shape == (2,)


def test_segment_with_the_saliency_rule(checkpoint, tmp_path):
    from motionlayers.pipeline.segmentation import segment_source

    frames = _video(tmp_path / "frames")
    out = tmp_path / "out"
    result = segment_source(
        frames,
        out,
        "robust-layers",
        layers=3,
        size=(32, 48),
        foreground_rule="saliency",
        saliency_model=str(checkpoint),
        progress=False,
    )
    assert result.frames == 5
    assert len(list((out / "foreground").glob("*.png"))) == 5
    header = json.loads((out / "motion.json").read_text())
    assert header["foreground_rule"] == "saliency"
    assert header["saliency_model"] == str(checkpoint)


def test_a_bad_saliency_model_fails_before_any_output(tmp_path):
    from motionlayers.pipeline.segmentation import segment_source

    frames = _video(tmp_path / "frames")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match="bad.pt"):
        segment_source(
            frames, tmp_path / "out", foreground_rule="saliency", saliency_model=str(bad)
        )
    assert not (tmp_path / "out").exists()


def test_saliency_model_without_the_rule_is_an_error(checkpoint, tmp_path):
    from motionlayers.pipeline.segmentation import segment_source

    frames = _video(tmp_path / "frames")
    with pytest.raises(InputError, match="saliency-model"):
        segment_source(frames, tmp_path / "out", saliency_model=str(checkpoint), progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_saliency_command_writes_its_outputs(checkpoint, tmp_path):
    from motionlayers.cli.main import main

    frames = _video(tmp_path / "frames")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "mine.txt").write_text("the user's")
    code = main(
        [
            "saliency",
            str(frames),
            "-o",
            str(out),
            "--model",
            str(checkpoint),
            "--working-size",
            "48x32",
            "--no-progress",
        ]
    )
    assert code == 0
    assert (out / "mine.txt").read_text() == "the user's"
    for name in ("saliency", "relevance", "masks"):
        pictures = sorted((out / name).glob("*.png"))
        assert len(pictures) == 5
        assert cv2.imread(str(pictures[0])).shape[:2] == (64, 96)
    rows = list(csv.DictReader((out / "saliency.csv").open()))
    assert len(rows) == 5 and all(0.0 <= float(r["p_salient"]) <= 1.0 for r in rows)
    assert (out / "overlay.mp4").stat().st_size > 0


def test_saliency_command_bad_inputs(checkpoint, tmp_path, capsys):
    from motionlayers.cli.main import main

    assert main(["saliency", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) != 0
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    frames = _video(tmp_path / "frames")
    assert main(["saliency", str(frames), "-o", str(tmp_path / "o"), "--model", str(bad)]) != 0
    assert "bad.pt" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_saliency_rule_refused_for_events():
    from motionlayers.pipeline.options import resolve_options

    with pytest.raises(InputError, match="event"):
        resolve_options("events", {"foreground_rule": "saliency"})
    assert np.isfinite(resolve_options("video", {"foreground_rule": "saliency"})["explained_ratio"])


def test_shipped_classifier_loads_and_scores():
    from motionlayers.methods.nims import shipped_scorer

    scorer = shipped_scorer()
    assert scorer.selection == "elaborate"
    assert scorer.model.hparams["input_size"] == [64, 112]
    flow = torch.zeros(1, 2, 128, 224)
    flow[0, 0] = 1.5
    flow[0, :, 40:80, 60:120] = torch.tensor([-2.0, 1.0])[:, None, None]
    sets, attribution, probability = scorer.salient(flow)
    assert 0.0 <= float(probability[0]) <= 1.0
    assert attribution.shape == (1, 128, 224) and np.isfinite(attribution).all()
    # an object moving against a uniformly translating scene is the salient region
    square = np.zeros((128, 224), bool)
    square[40:80, 60:120] = True
    assert (sets[0] & square).sum() > 0.5 * square.sum()
    assert (sets[0] & ~square).sum() < 0.1 * square.sum()


def test_shipped_crowd_classifier_by_name():
    from motionlayers.methods.nims import shipped_scorer

    scorer = shipped_scorer("nims-crowd.pt")
    assert scorer.selection == "light" and scorer.model.net.norm_kind == "instance"
    flow = torch.from_numpy(crowd_frame(3).flow)[None]
    sets, attribution, probability = scorer.salient(flow)
    assert sets.shape == (1, 128, 224) and 0.0 <= float(probability[0]) <= 1.0
