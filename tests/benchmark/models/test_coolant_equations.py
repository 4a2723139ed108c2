"""COOLANT's equations (benchmark.models.coolant_losses) against hand computations on tiny tensors.

Every expected number is worked out here with plain arithmetic and ``math``, never by calling the
function under test.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.models import coolant_losses as eq


def _log_softmax(row: list[float]) -> list[float]:
    norm = math.log(sum(math.exp(x) for x in row))
    return [x - norm for x in row]


def _softmax(row: list[float]) -> list[float]:
    return [math.exp(x) for x in _log_softmax(row)]


def _close(actual: torch.Tensor, expected, tol: float = 1e-5) -> None:
    torch.testing.assert_close(actual.detach().double(), torch.tensor(expected, dtype=torch.float64),
                               atol=tol, rtol=tol)


# ------------------------------------------------------------------ Eq. 1
def test_consistency_pairs_paper_reading() -> None:
    # items 0 and 2 are real and share one image; item 1 is fake. roll by 1: image of i-1.
    labels = torch.tensor([0, 1, 0])
    image_ids = torch.tensor([0, 1, 0])
    text_idx, image_idx, y = eq.build_consistency_pairs(labels, image_ids, shift=1)
    # own pairs: (0,0)+ (1,1)- [fake] (2,2)+ ; rolled images [2,0,1]: text 0 with image 2 is the
    # same image content -> dropped; (1,0)- and (2,1)- kept
    assert text_idx.tolist() == [0, 1, 2, 1, 2]
    assert image_idx.tolist() == [0, 1, 2, 0, 1]
    assert y.tolist() == [1, -1, 1, -1, -1]


def test_consistency_pairs_real_only_as_released() -> None:
    labels = torch.tensor([0, 1, 0, 0])
    text_idx, image_idx, y = eq.build_consistency_pairs(labels, torch.arange(4), shift=1, real_only=True)
    assert text_idx.tolist() == [0, 2, 3, 0, 2, 3]
    assert image_idx.tolist() == [0, 2, 3, 3, 0, 2]  # real images [0,2,3] rolled by one
    assert y.tolist() == [1, 1, 1, -1, -1, -1]


def test_consistency_loss_eq1() -> None:
    v = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    t = torch.tensor([[0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    y = torch.tensor([1, -1, -1])
    # pair 0 positive, cos 0 -> 1; pair 1 negative, cos 1/sqrt2 -> 1/sqrt2 - 0.2; pair 2 cos -1 -> 0
    expected = (1.0 + (1 / math.sqrt(2) - 0.2) + 0.0) / 3
    _close(eq.consistency_loss(v, t, y, margin=0.2), expected)
    _close(eq.consistency_loss(v[:0], t[:0], y[:0]), 0.0)


# ------------------------------------------------------------------ Eq. 2-4
def test_similarity_logits_normalised_dot_product() -> None:
    v = torch.tensor([[3.0, 4.0]])
    t = torch.tensor([[1.0, 0.0]])
    _close(eq.similarity_logits(v, t, 2.0), [[2.0 * 0.6]])
    _close(eq.similarity_logits(v, t, 2.0, normalise=False), [[6.0]])


def test_itc_loss_eq2_4() -> None:
    logits = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    v2t = -(_log_softmax([1.0, 0.0])[0] + _log_softmax([0.6, 0.8])[1]) / 2
    t2v = -(_log_softmax([1.0, 0.6])[0] + _log_softmax([0.0, 0.8])[1]) / 2
    _close(eq.itc_loss(logits), (v2t + t2v) / 2)


def test_itc_loss_masks_negatives_that_share_the_image() -> None:
    # items 0 and 1 carry the same image: their cross pairs leave the softmaxes, item 2 stays a negative
    logits = torch.tensor([[2.0, 1.0, 0.5], [0.3, 1.5, -0.2], [0.1, 0.4, 1.0]])
    ids = torch.tensor([7, 7, 3])
    rows = [[2.0, 0.5], [1.5, -0.2], [0.1, 0.4, 1.0]]  # row i: its own logit first / in place
    v2t = -(_log_softmax(rows[0])[0] + _log_softmax(rows[1])[0] + _log_softmax(rows[2])[2]) / 3
    cols = [[2.0, 0.1], [1.5, 0.4], [0.5, -0.2, 1.0]]
    t2v = -(_log_softmax(cols[0])[0] + _log_softmax(cols[1])[0] + _log_softmax(cols[2])[2]) / 3
    _close(eq.itc_loss(logits, ids), (v2t + t2v) / 2)
    _close(eq.itc_loss(logits, torch.tensor([0, 1, 2])), eq.itc_loss(logits).item())  # no sharing: Eq. 3-4


# ------------------------------------------------------------------ Eq. 5-7
def test_soft_targets_eq5_are_detached_row_softmaxes() -> None:
    shared = torch.tensor([[1.0, 0.0], [0.5, 0.0]], requires_grad=True)
    s_v2t, s_t2v = eq.soft_targets(shared)
    _close(s_v2t, [_softmax([1.0, 0.0]), _softmax([0.5, 0.0])])
    _close(s_t2v, [_softmax([1.0, 0.5]), _softmax([0.0, 0.0])])
    assert not s_v2t.requires_grad and not s_t2v.requires_grad


def test_semantic_matching_loss_eq6_and_objective_eq7() -> None:
    logits = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    s_v2t = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
    s_t2v = torch.tensor([[0.9, 0.1], [0.4, 0.6]])
    lp_v2t = [_log_softmax([1.0, 0.0]), _log_softmax([0.6, 0.8])]
    lp_t2v = [_log_softmax([1.0, 0.6]), _log_softmax([0.0, 0.8])]
    total = 0.0
    for i in range(2):
        for j in range(2):
            total += s_v2t[i, j].item() * lp_v2t[i][j] + s_t2v[i, j].item() * lp_t2v[i][j]
    sem = -total / (2 * 2)
    _close(eq.semantic_matching_loss(logits, s_v2t, s_t2v), sem)
    # one-hot soft targets reduce Eq. 6 to Eq. 3-4
    eye = torch.eye(2)
    _close(eq.semantic_matching_loss(logits, eye, eye), eq.itc_loss(logits).item())
    # Eq. 7 inside the total: L_CL = L_ITC + lambda L_SEM (other terms zero)
    z = torch.tensor(0.0)
    _close(eq.total_loss(z, torch.tensor(2.0), torch.tensor(3.0), z, z, lambda_sem=0.2, gamma=0.5), 2.6)


# ------------------------------------------------------------------ Eq. 8-10
def test_cross_modal_fusion_eq8_10() -> None:
    m_v = torch.tensor([[1.0, 0.0]])
    m_t = torch.tensor([[0.0, 2.0]])
    r = 2 / math.sqrt(2)  # the only non-zero entry of m^v m^t^T / sqrt(dim)
    # f_{t->v} = softmax([[0, r], [0, 0]]) rows; m^v_f = f m^v = [f00 * 1, 0.5]
    mf_v = [1 / (1 + math.exp(r)), 0.5]
    # f_{v->t} = softmax([[0, 0], [r, 0]]) rows; m^t_f = f m^t = [0.5 * 2, f11 * 2]
    mf_t = [1.0, 2 / (math.exp(r) + 1)]
    expected = [[mf_v[0] * mf_t[0], mf_v[0] * mf_t[1], mf_v[1] * mf_t[0], mf_v[1] * mf_t[1]]]
    _close(eq.cross_modal_fusion(m_v, m_t), expected)


# ------------------------------------------------------------------ section 3.4.1 and Eq. 15
def test_squeeze_and_attention_weights() -> None:
    stacked = torch.tensor([[[1.0, 3.0], [2.0, 2.0], [0.0, -4.0]]])
    _close(eq.modality_squeeze(stacked), [[2.0, 2.0, -2.0]])
    # sigmoid gates 0.5, 0.75, 0.25 -> normalised by their sum 1.5
    logits = torch.tensor([[0.0, math.log(3.0), -math.log(3.0)]])
    a, log_a = eq.attention_weights(logits)
    _close(a, [[1 / 3, 1 / 2, 1 / 6]])
    _close(log_a, [[math.log(1 / 3), math.log(1 / 2), math.log(1 / 6)]])
    # released code: log-softmax values are the weights
    w, log_w = eq.attention_weights(torch.tensor([[0.0, math.log(2.0), math.log(3.0)]]), log_softmax=True)
    _close(w, [[math.log(1 / 6), math.log(2 / 6), math.log(3 / 6)]])
    _close(log_w, w.tolist())


def test_aggregate_eq15() -> None:
    out = eq.aggregate(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 0.0]]), torch.tensor([[4.0, 5.0]]),
                       torch.tensor([[0.5, 2.0, -1.0]]))
    _close(out, [[0.5, 1.0, 6.0, 0.0, -4.0, -5.0]])


# ------------------------------------------------------------------ Eq. 11-13
def test_gaussian_kl_closed_form() -> None:
    # KL(N(0,1) || N(1,4)) = ln 2 + (1 + 1) / 8 - 1/2, plus a second identical-dims term of 0
    expected = math.log(2) + 2 / 8 - 0.5
    kl = eq.gaussian_kl(torch.tensor([[0.0, 3.0]]), torch.tensor([[0.0, 0.5]]),
                        torch.tensor([[1.0, 3.0]]), torch.tensor([[math.log(4.0), 0.5]]))
    _close(kl, [expected])


def test_moment_matched_gaussian_eq11() -> None:
    mu, logvar = eq.moment_matched_gaussian(torch.tensor([[0.0], [2.0]]),
                                            torch.tensor([[0.0], [math.log(4.0)]]))
    # mean 1; var = mean(1 + 0, 4 + 4) - 1 = 3.5
    _close(mu, [[1.0]])
    _close(logvar, [[math.log(3.5)]])


def test_ambiguity_scores_eq12_13() -> None:
    mu_v, mu_t = torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [2.0]])
    lv = torch.zeros(2, 1)
    # per sample: KL(N(0,1)||N(1,1)) = 0.5 both ways for item 0, 0 for item 1
    # aggregates: v mean 1 var 2; t mean 1.5 var 1.25
    k_vt = 0.5 * math.log(1.25 / 2) + (2 + 0.25) / (2 * 1.25) - 0.5
    k_tv = 0.5 * math.log(2 / 1.25) + (1.25 + 0.25) / (2 * 2) - 0.5
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    g = eq.ambiguity_scores(mu_v, lv, mu_t, lv)
    _close(g, [sig(0.5 * (0.5 / k_vt + 0.5 / k_tv)), 0.5])
    g_code = eq.ambiguity_scores(mu_v, lv, mu_t, lv, aggregate_ratio=False)
    _close(g_code, [sig(0.5), 0.5])


# ------------------------------------------------------------------ Eq. 14
def test_ambiguity_target_and_guidance_loss_eq14() -> None:
    g = torch.tensor([0.8])
    _close(eq.ambiguity_target(g, normalise=False), [[0.2, 0.2, 0.8]])
    target = eq.ambiguity_target(g)
    _close(target, [[0.2 / 1.2, 0.2 / 1.2, 0.8 / 1.2]])
    a = [1 / 3, 1 / 2, 1 / 6]
    gt = [1 / 6, 1 / 6, 2 / 3]
    log_a = torch.tensor([[math.log(x) for x in a]])
    expected = sum(ai * math.log(ai / gi) for ai, gi in zip(a, gt))
    _close(eq.attention_guidance_loss(log_a, target), expected)
    # released code: KLDivLoss(log a, g) with the unnormalised g = sum g (ln g - ln a)
    g_raw = [0.2, 0.2, 0.8]
    expected_code = sum(gi * (math.log(gi) - math.log(ai)) for ai, gi in zip(a, g_raw))
    _close(eq.attention_guidance_loss(log_a, eq.ambiguity_target(g, normalise=False), code_direction=True),
           expected_code)
    # the batch average: a second identical row leaves the mean unchanged
    _close(eq.attention_guidance_loss(log_a.repeat(2, 1), target.repeat(2, 1)), expected)


def test_guidance_loss_eq14_moves_the_attention_not_the_target() -> None:
    """g is the reference of Eq. 14: detached by default, attached as in the released code."""
    g = torch.tensor([0.8, 0.6], requires_grad=True)
    log_a = torch.log(torch.tensor([[1 / 3, 1 / 2, 1 / 6], [0.2, 0.3, 0.5]])).requires_grad_(True)
    eq.attention_guidance_loss(log_a, eq.ambiguity_target(g)).backward()
    assert g.grad is None and log_a.grad is not None and log_a.grad.abs().sum() > 0
    eq.attention_guidance_loss(log_a, eq.ambiguity_target(g), detach_target=False).backward()
    assert g.grad is not None and g.grad.abs().sum() > 0


# ------------------------------------------------------------------ Eq. 17-19
def test_classification_loss_eq17() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    # item 0: y^ = 3/4, y = 1 -> -ln 0.75; item 1: y^ = 1/4, y = 0 -> -ln(1 - 0.25)
    _close(eq.classification_loss(logits, torch.tensor([1, 0])), -math.log(0.75))


def test_total_loss_eq18_19() -> None:
    terms = [torch.tensor(x) for x in (1.0, 2.0, 3.0, 4.0, 5.0)]
    _close(eq.total_loss(*terms, lambda_sem=0.2, gamma=0.5), 1 + 2 + 0.2 * 3 + 4 + 0.5 * 5)


@pytest.mark.parametrize("shift", [1, 3])
def test_consistency_pairs_never_pair_an_image_with_itself(shift: int) -> None:
    torch.manual_seed(0)
    labels = torch.randint(0, 2, (8,))
    image_ids = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4])
    text_idx, image_idx, y = eq.build_consistency_pairs(labels, image_ids, shift=shift)
    neg = y < 0
    own = text_idx == image_idx
    assert torch.all(image_ids[text_idx[neg & ~own]] != image_ids[image_idx[neg & ~own]])
    assert torch.equal(y[own], torch.where(labels == 0, 1, -1))
