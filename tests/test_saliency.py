"""Motion saliency (thesis ch. 5): generated data, the classifier, LRP, selection, inpainting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from motionlayers.data.saliency import (
    SaliencyFlowDataset,
    crowd_frame,
    parallax_frame,
    rigid_flow,
)
from motionlayers.errors import InputError
from motionlayers.nets.classifier import FlowClassifier, clamp_norm_scales
from motionlayers.nets.lrp import (
    fold_network,
    fold_norm,
    folded_logit,
    relevance_maps,
    relevance_trace,
)
from motionlayers.postprocess.saliency import (
    INPAINT_LAMBDA,
    light_candidates,
    region_scores,
    saliency_map,
    select_salient,
)

pytestmark = pytest.mark.usefixtures("one_thread")


# --- generated flows ---------------------------------------------------------------------------
def test_rigid_flow_known_motions():
    depth = np.full((5, 7), 0.5)  # 1 / Z
    # a sideways translation moves every point by -f T_x / Z
    flow = rigid_flow(depth, np.array([2.0, 0.0, 0.0]), np.zeros(3), focal=10.0)
    np.testing.assert_allclose(flow[0], -10.0 * 2.0 * 0.5)
    np.testing.assert_allclose(flow[1], 0.0)
    # a rotation about the optical axis does not depend on depth: u = y w_z, v = -x w_z
    near = rigid_flow(depth * 3, np.zeros(3), np.array([0.0, 0.0, 0.1]), focal=10.0)
    far = rigid_flow(depth, np.zeros(3), np.array([0.0, 0.0, 0.1]), focal=10.0)
    np.testing.assert_allclose(near, far)
    y, x = np.mgrid[0:5, 0:7] - np.array([2.0, 3.0])[:, None, None]
    np.testing.assert_allclose(far[0], 0.1 * y)
    np.testing.assert_allclose(far[1], -0.1 * x)


def test_parallax_frames_are_seeded_and_labelled():
    a = parallax_frame(3, 48, 64, salient=True, noise=0.0, blur=0.0)
    b = parallax_frame(3, 48, 64, salient=True, noise=0.0, blur=0.0)
    np.testing.assert_array_equal(a.flow, b.flow)
    assert a.label == 1 and a.mask.any() and a.flow.shape == (2, 48, 64)
    still = parallax_frame(3, 48, 64, salient=False, noise=0.0, blur=0.0)
    assert still.label == 0 and not still.mask.any()
    # the same scene: the flows differ only on the independently moving pixels
    differs = np.abs(a.flow - still.flow).max(0) > 1e-4
    assert differs[~a.mask].sum() == 0 and differs[a.mask].mean() > 0.9


def test_parallax_own_motion_crosses_the_epipolar_direction():
    for seed in range(5):
        frame = parallax_frame(seed, 48, 64, salient=True, noise=0.0, blur=0.0, min_contrast=1.0)
        still = parallax_frame(seed, 48, 64, salient=False, noise=0.0, blur=0.0)
        own = (frame.flow - still.flow)[:, frame.mask]
        assert np.sqrt((own**2).sum(0)).mean() >= 1.0 - 1e-6


def test_crowd_frames():
    salient = crowd_frame(1, 64, 96, salient=True, noise=0.0, blur=0.0, outliers=(2, 2))
    assert salient.label == int(salient.mask.any())
    still = crowd_frame(1, 64, 96, salient=False)
    assert still.label == 0 and not still.mask.any()
    again = crowd_frame(1, 64, 96, salient=True, noise=0.0, blur=0.0, outliers=(2, 2))
    np.testing.assert_array_equal(salient.flow, again.flow)


def test_saliency_dataset_items():
    data = SaliencyFlowDataset("parallax", 6, 32, 48, seed=2)
    item = data[4]
    assert item["flow"].shape == (2, 32, 48) and item["mask"].shape == (32, 48)
    assert float(item["label"]) == float(item["mask"].any())
    torch.testing.assert_close(data[4]["flow"], item["flow"])
    labels = {float(data[i]["label"]) for i in range(6)}
    assert labels <= {0.0, 1.0}
    with pytest.raises(IndexError):
        data[6]
    with pytest.raises(InputError, match="unknown"):
        SaliencyFlowDataset("ufo", 3)


# --- classifier and folding --------------------------------------------------------------------
def _randomised(model: FlowClassifier) -> FlowClassifier:
    torch.manual_seed(0)
    with torch.no_grad():
        for norm in model.norms:
            norm.weight.uniform_(0.2, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
            if isinstance(norm, torch.nn.BatchNorm2d):
                norm.running_mean.uniform_(-0.3, 0.3)
                norm.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_classifier_shapes_and_errors():
    model = FlowClassifier(widths=(4, 8, 8), pool=(2, 3))
    assert model(torch.randn(3, 2, 40, 56)).shape == (3,)
    with pytest.raises(InputError, match="at least 8"):
        model(torch.randn(1, 2, 4, 40))
    with pytest.raises(InputError, match="norm"):
        FlowClassifier(norm="group")


def test_fold_norm_equals_conv_then_batch_norm():
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(2, 5, 3, padding=1)
    norm = _randomised(FlowClassifier(widths=(5,), pool=(1, 1))).norms[0]
    x = torch.randn(2, 2, 9, 11)
    weight, bias = fold_norm(
        conv.weight,
        conv.bias,
        norm.running_mean,
        norm.running_var,
        norm.weight,
        norm.bias,
        norm.eps,
    )
    expected = norm(conv(x))
    torch.testing.assert_close(torch.nn.functional.conv2d(x, weight, bias, padding=1), expected)


@pytest.mark.parametrize("head", ["avg", "max"])
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_folded_reordered_network_computes_the_same_logit(norm, head):
    model = _randomised(FlowClassifier(widths=(6, 8, 8), norm=norm, pool=(2, 3), head=head))
    flow = torch.randn(3, 2, 32, 48)
    torch.testing.assert_close(folded_logit(model, flow), model(flow), rtol=1e-4, atol=1e-5)


def test_negative_norm_scale_is_refused_and_clamped():
    model = _randomised(FlowClassifier(widths=(4, 4, 4), pool=(1, 1)))
    with torch.no_grad():
        model.norms[1].weight[0] = -0.5
    with pytest.raises(InputError, match="negative scale"):
        fold_network(model, torch.randn(1, 2, 16, 16))
    clamp_norm_scales(model)
    assert float(model.norms[1].weight.min()) >= 0
    fold_network(model, torch.randn(1, 2, 16, 16))


def test_batch_norm_in_training_mode_is_refused():
    model = FlowClassifier(widths=(4,), pool=(1, 1)).train()
    with pytest.raises(InputError, match="eval mode"):
        fold_network(model, torch.randn(1, 2, 8, 8))


# --- LRP --------------------------------------------------------------------------------------
@pytest.mark.parametrize("head", ["avg", "max"])
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_relevance_is_conserved_layer_to_layer(norm, head):
    model = _randomised(FlowClassifier(widths=(6, 8, 8), norm=norm, pool=(2, 3), head=head))
    for seed in range(3):
        flow = torch.randn(1, 2, 32, 48, generator=torch.Generator().manual_seed(seed))
        relevance, totals = relevance_trace(model, flow)
        assert relevance.shape == (2, 32, 48)
        logit = float(model(flow))
        assert totals[0] == pytest.approx(logit, rel=1e-5)
        for total in totals[1:]:
            assert total == pytest.approx(logit, rel=1e-3, abs=1e-6)


def _tiny(a: float, b: float, head: float) -> FlowClassifier:
    """One 1x1 conv (u, v) -> a u + b v, an identity batch norm, max-pool 2x2, head weight."""
    model = FlowClassifier(widths=(1,), norm="batch", pool=(1, 1), kernel=1)
    with torch.no_grad():
        model.convs[0].weight.copy_(torch.tensor([a, b]).view(1, 2, 1, 1))
        model.convs[0].bias.zero_()
        norm = model.norms[0]
        norm.weight.fill_(1.0)
        norm.bias.zero_()
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)
        model.head.weight.fill_(head)
        model.head.bias.zero_()
    return model.eval()


def test_hand_built_network_gets_its_known_relevance():
    a, b, head = 2.0, -1.0, 3.0
    model = _tiny(a, b, head)
    u = torch.tensor([[1.0, 0.0], [0.5, -1.0]])
    v = torch.tensor([[0.0, 1.0], [-2.0, 0.0]])
    flow = torch.stack([u, v])[None]  # (1, 2, 2, 2)
    # z = a u + b v per pixel: [[2, -1], [3, -2]]; the max (3) is pixel (1, 0); logit = 9
    assert float(model(flow)) == pytest.approx(9.0)
    relevance, _ = relevance_trace(model, flow)
    # z^beta at the winner: x_i w_i - l_i w+_i - h_i w-_i, with l, h the channel min and max
    low, high = (float(u.min()), float(v.min())), (float(u.max()), float(v.max()))
    terms = np.array(
        [
            0.5 * a - low[0] * max(a, 0) - high[0] * min(a, 0),
            -2.0 * b - low[1] * max(b, 0) - high[1] * min(b, 0),
        ]
    )
    expected = terms / terms.sum() * 9.0
    np.testing.assert_allclose(relevance[:, 1, 0].numpy(), expected, rtol=1e-6)
    assert float(relevance.abs().sum()) == pytest.approx(float(np.abs(expected).sum()), rel=1e-6)
    # winner takes all: the other pixels get nothing
    others = torch.ones(2, 2, dtype=torch.bool)
    others[1, 0] = False
    assert float(relevance[:, others].abs().max()) == 0.0


def test_z_plus_rule_on_a_hand_built_second_layer():
    """Two blocks: the second one's z+ share of relevance is x_i w+_i / sum x w+."""
    model = FlowClassifier(widths=(2, 1), norm="batch", pool=(1, 1), kernel=1)
    with torch.no_grad():
        model.convs[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(2, 2, 1, 1))
        model.convs[1].weight.copy_(torch.tensor([1.0, -4.0]).view(1, 2, 1, 1))  # w+ = [1, 0]
        for conv in model.convs:
            conv.bias.zero_()
        for norm in model.norms:
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
        model.head.weight.fill_(1.0)
        model.head.bias.zero_()
    model.eval()
    flow = torch.rand(1, 2, 4, 4) + 0.1  # positive: both channels active everywhere
    relevance, totals = relevance_trace(model, flow)
    # with w+ = [1, 0] every bit of relevance reaches the u channel
    assert float(relevance[1].abs().max()) == pytest.approx(0.0, abs=1e-6)
    assert float(relevance.sum()) == pytest.approx(totals[0], rel=1e-4)


def test_relevance_maps_show_the_evidence_for_salient_whatever_the_decision():
    model = _tiny(2.0, -1.0, 3.0)
    with torch.no_grad():
        model.head.bias.fill_(-20.0)  # logit 9 - 20 < 0: called not salient
    flow = torch.tensor([[[1.0, 0.0], [0.5, -1.0]], [[0.0, 1.0], [-2.0, 0.0]]])[None]
    assert float(model(flow)) < 0
    raw = relevance_maps(model, flow, evidence=False)
    torch.testing.assert_close(relevance_maps(model, flow), -raw)
    assert float(raw.sum()) == pytest.approx(float(model(flow)), rel=1e-5)


def test_relevance_maps_batch_shape():
    model = _randomised(FlowClassifier(widths=(4, 4, 4), norm="instance", pool=(1, 1)))
    maps = relevance_maps(model, torch.randn(3, 2, 16, 24))
    assert maps.shape == (3, 16, 24) and torch.isfinite(maps).all()


# --- selection and inpainting --------------------------------------------------------------------
def test_region_scores_and_selection():
    regions = np.array([[0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 2, 2]])
    attribution = np.array([[0.1, 0.1, 0.1, 2.0], [0.1, 0.1, 0.1, 1.0], [0.1, 0.1, 0.0, 0.0]])
    scores, sizes = region_scores(regions, attribution)
    np.testing.assert_allclose(scores, [0.1, 1.5, 0.0])
    np.testing.assert_array_equal(sizes, [8, 2, 2])
    salient = select_salient(regions, attribution)
    np.testing.assert_array_equal(salient, regions == 1)
    # a single region has nothing to stand out from
    assert not select_salient(np.zeros((3, 4), int), attribution).any()
    # a region below the size floor is never salient
    assert not select_salient(regions, attribution, min_region=0.2).any()


def test_light_candidates_follow_the_relevant_motion():
    flow = np.zeros((2, 12, 16))
    flow[0] = 1.0  # crowd moves right
    flow[:, 2:4, 2:4] = np.array([0.0, 3.0])[:, None, None]  # one agent moves down
    flow[:, 8:10, 10:13] = np.array([0.0, 3.5])[:, None, None]  # another one down
    attribution = np.zeros((12, 16))
    attribution[2:4, 2:4] = 1.0
    regions = light_candidates(flow, attribution)
    assert regions.max() == 2  # both downward agents (ratio within (0.99, 5)), apart
    assert set(np.unique(regions[flow[1] > 0])) == {1, 2}
    assert (regions[flow[1] == 0] == 0).all()
    assert (light_candidates(flow, np.zeros((12, 16))) == 0).all()


def test_saliency_map_is_the_gap_to_the_inpainted_motion():
    height, width = 24, 32
    y, x = torch.meshgrid(
        torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij"
    )
    background = torch.stack([0.5 + 0.2 * x - 0.1 * y, -0.3 + 0.1 * x + 0.3 * y])
    flow = background.clone()
    salient = torch.zeros(height, width, dtype=torch.bool)
    salient[8:14, 10:18] = True
    flow[:, salient] += torch.tensor([3.0, 4.0])[:, None]  # gap of 5 px
    phi = saliency_map(flow[None].double(), salient[None])[0]
    expected = 1 - math.exp(-INPAINT_LAMBDA * 5.0)
    torch.testing.assert_close(
        phi[salient], torch.full_like(phi[salient], expected), atol=1e-4, rtol=0
    )
    assert float(phi[~salient].abs().max()) == 0.0
