"""NovEmoFake's equations and optimiser against hand computations (numbers worked out in the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.models.lars import LARS, lars_param_groups
from benchmark.models.novemofake import emotion_representation, emotion_scaffold, novelty_fusion
from benchmark.models.novemofake_pretrain import (emotion_class_weights, fit_pca, pca_transform,
                                                  warmup_linear_decay)
from benchmark.models.supcon import supervised_contrastive_loss


# ---------------------------------------------------------------- Eq. 2: supervised contrastive loss

def test_supcon_anchor_without_positive_is_excluded():
    # z1=(1,0) z2=(0,1) z3=(-1,0) z4=(0,-1); labels 0,0,1,2: z3 and z4 have no positive.
    # tau=0.5 doubles the dot products. Anchor 1: positive z2 (dot 0 -> logit 0);
    # denominator over a != 1: exp(0) + exp(-2) + exp(0) = 2 + e^-2; loss_1 = log(2 + e^-2).
    # Anchor 2 is symmetric (dots to z1, z3, z4: 0, 0, -1), so the mean over anchors 1, 2 is the same.
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    labels = torch.tensor([0, 0, 1, 2])
    expected = math.log(2 + math.exp(-2))  # = 0.75862...
    assert supervised_contrastive_loss(z, labels, temperature=0.5).item() == pytest.approx(expected, rel=1e-6)


def test_supcon_averages_over_several_positives():
    # z1=(1,0) z2=(0.6,0.8) z3=(0,1), one class, tau=1. Dots: z1.z2=0.6, z1.z3=0, z2.z3=0.8.
    # anchor 1: D1 = e^0.6 + e^0;   loss = log D1 - (0.6 + 0)/2
    # anchor 2: D2 = e^0.6 + e^0.8; loss = log D2 - (0.6 + 0.8)/2
    # anchor 3: D3 = e^0 + e^0.8;   loss = log D3 - (0 + 0.8)/2
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    labels = torch.tensor([1, 1, 1])
    l1 = math.log(math.exp(0.6) + 1) - 0.3
    l2 = math.log(math.exp(0.6) + math.exp(0.8)) - 0.7
    l3 = math.log(1 + math.exp(0.8)) - 0.4
    got = supervised_contrastive_loss(z, labels, temperature=1.0).item()
    assert got == pytest.approx((l1 + l2 + l3) / 3, rel=1e-6)


def test_supcon_without_any_positive_is_zero_with_gradient():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    loss = supervised_contrastive_loss(z, torch.tensor([0, 1]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_supcon_rejects_bad_shapes():
    with pytest.raises(ValueError):
        supervised_contrastive_loss(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError):
        supervised_contrastive_loss(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), temperature=0.0)


# ---------------------------------------------------------------- Eq. 4-5: fusion, scaffold

def test_novelty_fusion_by_hand():
    # N_T=(1,-2), N_S=(3,0.5): a = (4,-1.5), |b| = (|-2|, |-2.5|) = (2, 2.5), c = (3, -1)
    got = novelty_fusion(torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 0.5]]))
    assert torch.allclose(got, torch.tensor([[4.0, -1.5, 2.0, 2.5, 3.0, -1.0]]))


def test_emotion_scaffold_blocks_and_concatenation():
    scaffold = emotion_scaffold(torch.tensor([0, 1]), dim=4)
    assert torch.equal(scaffold, torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]))
    # FE1 = [IR2, SL(argmax logits)]: logits (0.2, 0.9) -> label 1
    fe1 = emotion_representation(torch.tensor([[0.5, -0.5]]), torch.tensor([[0.2, 0.9]]), scaffold_dim=4)
    assert torch.equal(fe1, torch.tensor([[0.5, -0.5, 0.0, 0.0, 1.0, 1.0]]))
    with pytest.raises(ValueError):
        emotion_scaffold(torch.tensor([0]), dim=5)


def test_emotion_class_weights_by_hand():
    # 3 of class 0, 1 of class 1: N / (K * n_c) = 4 / (2*3) = 2/3 and 4 / (2*1) = 2
    w = emotion_class_weights(torch.tensor([0, 0, 0, 1]))
    assert torch.allclose(w, torch.tensor([2 / 3, 2.0]))
    # an absent class gets weight 0 (instead of 1/0); the present one 2 / (2*2) = 0.5
    assert torch.allclose(emotion_class_weights(torch.tensor([1, 1])), torch.tensor([0.0, 0.5]))


# ---------------------------------------------------------------- Eq. 5: PCA

def test_pca_fit_and_transform_by_hand():
    # rows on the diagonal: mean (2,2), first axis (1,1)/sqrt2; row (4,4) -> (2,2).(1,1)/sqrt2 = 2*sqrt2
    x = torch.tensor([[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]])
    mean, components = fit_pca(x, 1)
    assert torch.allclose(mean, torch.tensor([2.0, 2.0]))
    assert torch.allclose(components, torch.tensor([[1.0, 1.0]]) / math.sqrt(2), atol=1e-6)
    got = pca_transform(torch.tensor([[4.0, 4.0]]), mean, components)
    assert got.item() == pytest.approx(2 * math.sqrt(2), rel=1e-6)
    # the sign is deterministic: the mirrored data gives the same axis
    _, mirrored = fit_pca(-x, 1)
    assert torch.allclose(mirrored, components, atol=1e-6)


def test_pca_pads_missing_axes_with_zeros():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0]])  # 2 rows: at most 2 axes
    mean, components = fit_pca(x, 4)
    assert components.shape == (4, 3)
    assert torch.equal(components[2:], torch.zeros(2, 3))
    assert pca_transform(x, mean, components).shape == (2, 4)


def test_warmup_then_linear_decay():
    # 10 steps, warm-up 3: multipliers 1/3, 2/3, 1 then (10 - step) / 7
    got = [warmup_linear_decay(s, 10, 0.3) for s in range(10)]
    assert got[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert got[3:] == pytest.approx([7 / 7, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7])


# ---------------------------------------------------------------- LARS

def test_lars_two_steps_by_hand():
    # w=(3,4) |w|=5, g=(0.3,0.4), wd=0.1, eta=0.001, lr=1, momentum 0.9
    # step 1: g' = g + 0.1 w = (0.6,0.8), |g'|=1, trust = 0.001*5/1 = 0.005
    #         v = 0.005*(0.6,0.8) = (0.003,0.004); w = (2.997, 3.996)
    # step 2: g' = (0.3+0.2997, 0.4+0.3996) = 0.9995*(0.6,0.8); |w| = 4.995
    #         trust*g' = 0.001*|w|*(0.6,0.8) = (0.002997, 0.003996)
    #         v = 0.9*(0.003,0.004) + (0.002997,0.003996) = (0.005697, 0.007596)
    #         w = (2.997-0.005697, 3.996-0.007596) = (2.991303, 3.988404)
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))
    opt = LARS([w], lr=1.0, momentum=0.9, weight_decay=0.1, eta=0.001)
    for expected in ([2.997, 3.996], [2.991303, 3.988404]):
        w.grad = torch.tensor([[0.3, 0.4]])
        opt.step()
        assert torch.allclose(w.detach(), torch.tensor([expected]), atol=1e-6)


def test_lars_excluded_group_is_plain_momentum_sgd():
    # bias (1,-2), grad (0.5,0.5), lr 0.1, momentum 0.9, no decay/adaptation:
    # v1 = 0.05 -> (0.95,-2.05); v2 = 0.9*0.05 + 0.05 = 0.095 -> (0.855,-2.145)
    layer = torch.nn.Linear(2, 2)
    groups = lars_param_groups(layer, weight_decay=0.5)
    assert [g["lars_adapt"] for g in groups] == [True, False]
    assert groups[0]["params"][0] is layer.weight and groups[1]["params"][0] is layer.bias
    assert groups[1]["weight_decay"] == 0.0
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([1.0, -2.0]))
    opt = LARS(groups, lr=0.1, momentum=0.9, eta=0.001)
    for expected in ([0.95, -2.05], [0.855, -2.145]):
        layer.weight.grad = torch.zeros_like(layer.weight)
        layer.bias.grad = torch.tensor([0.5, 0.5])
        opt.step()
        assert torch.allclose(layer.bias.detach(), torch.tensor(expected), atol=1e-6)


def test_lars_zero_weight_falls_back_to_trust_one():
    # |w| = 0: trust ratio 1 (SimCLR), so the step is lr * g
    w = torch.nn.Parameter(torch.zeros(1, 2))
    opt = LARS([w], lr=0.5, momentum=0.0, eta=0.001)
    w.grad = torch.tensor([[1.0, -2.0]])
    opt.step()
    assert torch.allclose(w.detach(), torch.tensor([[-0.5, 1.0]]))
