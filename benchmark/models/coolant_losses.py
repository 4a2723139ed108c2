"""COOLANT's equations (Wang et al., ACM MM 2023, section 3) as small pure tensor functions.

Each equation lives here exactly once so the model (``benchmark.models.coolant``) only wires them
together and every one of them can be checked against a hand computation in
``tests/test_coolant_equations.py``. Where the public code (github wishever/COOLANT) computes a term
differently, the difference is a keyword argument here and a config switch in the model; the
default is always the paper's formula.

Shapes: B = batch, d = embedding size, K = VAE latent size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


# --------------------------------------------------------------------------------------------
# Eq. 1 -- consistency learning: the pair set D' and the cosine-embedding loss
# --------------------------------------------------------------------------------------------

def build_consistency_pairs(labels: torch.Tensor, image_ids: torch.Tensor, shift: int = 1,
                            real_only: bool = False,
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index pairs (text_idx, image_idx, y') of the per-batch consistency set D' = [D_pos, D_neg].

    Paper (section 3.2.1): y' = 1 iff text and image "are from the same piece of REAL news",
    otherwise y' = 0. Taken literally per batch:
      * every item's own (text, image) pair: y' = +1 if it is real (label 0), -1 if it is fake;
      * every text with the image rolled by ``shift`` inside the batch: y' = -1 -- except where the
        rolled image is the same content as the text's own image (``image_ids`` equal; posts share
        images), which would give identical inputs contradictory targets and is dropped.
    Public code (``real_only=True``): only the real items are used; positives are their own pairs,
    negatives the same real texts with the real images rolled by ``shift`` (3 in the code), without
    the duplicate check. Labels use the cosine-embedding convention (+1 / -1).
    """
    if labels.dim() != 1 or image_ids.shape != labels.shape:
        raise ValueError("labels and image_ids must both have shape (B,)")
    device = labels.device
    if real_only:
        real = torch.nonzero(labels == 0, as_tuple=False).flatten()
        rolled = torch.roll(real, shifts=shift, dims=0)
        text_idx = torch.cat([real, real])
        image_idx = torch.cat([real, rolled])
        y = torch.cat([torch.ones_like(real), -torch.ones_like(real)])
        return text_idx, image_idx, y
    own = torch.arange(labels.shape[0], device=device)
    rolled = torch.roll(own, shifts=shift, dims=0)
    keep = image_ids[rolled] != image_ids[own]
    text_idx = torch.cat([own, own[keep]])
    image_idx = torch.cat([own, rolled[keep]])
    y = torch.cat([torch.where(labels == 0, 1, -1), -torch.ones_like(own[keep])])
    return text_idx, image_idx, y


def consistency_loss(shared_v: torch.Tensor, shared_t: torch.Tensor, y: torch.Tensor,
                     margin: float = 0.2) -> torch.Tensor:
    """Eq. 1: mean over pairs of 1 - cos (y' = +1) or max(0, cos - d) (y' = -1); 0 for no pairs."""
    if y.numel() == 0:
        return shared_v.sum() * 0.0
    cos = F.cosine_similarity(shared_v, shared_t, dim=-1, eps=1e-8)
    per_pair = torch.where(y > 0, 1.0 - cos, (cos - margin).clamp_min(0.0))
    return per_pair.mean()


# --------------------------------------------------------------------------------------------
# Eq. 2-7 -- contrastive learning with soft targets
# --------------------------------------------------------------------------------------------

def similarity_logits(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor | float,
                      normalise: bool = True) -> torch.Tensor:
    """sim(e^v_i, e^t_j) / tau as a (B, B) matrix: rows are images, columns texts (Eq. 2 and 5).

    ``scale`` is 1/tau. The paper's sim() is a dot product of L2-normalised embeddings
    (``normalise=True``); the released code's soft targets use raw dot products.
    """
    if normalise:
        image = F.normalize(image, dim=-1)
        text = F.normalize(text, dim=-1)
    return scale * image @ text.t()


def mask_shared_images(logits: torch.Tensor, image_ids: torch.Tensor) -> torch.Tensor:
    """Off-diagonal pairs (i, j) showing the same image (``image_ids`` equal) set to -inf: out of the softmaxes.

    Tweets often share an image, so pair (i, j), i != j, can be the same image with another text;
    Eq. 3-4 (and the released code) count it as a negative. Config ``itc_shared_image_negatives="mask"``
    removes those pairs from every softmax over the batch: the ITC and SEM logits and the soft targets.
    """
    same = image_ids.unsqueeze(0) == image_ids.unsqueeze(1)
    same.fill_diagonal_(False)
    return logits.masked_fill(same, float("-inf"))


def itc_loss(logits: torch.Tensor, image_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 3-4: (L^{v->t} + L^{t->v}) / 2 with one-hot targets on the diagonal.

    ``image_ids`` (B,) masks same-image off-diagonal pairs out of both softmaxes (``mask_shared_images``).
    """
    target = torch.arange(logits.shape[0], device=logits.device)
    if image_ids is not None:
        logits = mask_shared_images(logits, image_ids)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def soft_targets(shared_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 5: row-softmax of the consistency-space logits, (s^{v->t}, s^{t->v}); no gradient.

    The targets are a teacher signal: they are detached (the released code's separate optimiser
    steps have the same effect -- the consistency module never learns from this loss).
    """
    shared_logits = shared_logits.detach()
    return shared_logits.softmax(dim=1), shared_logits.t().softmax(dim=1)


def semantic_matching_loss(logits: torch.Tensor, s_v2t: torch.Tensor, s_t2v: torch.Tensor,
                           ) -> torch.Tensor:
    """Eq. 6: -1/(2N) sum_ij (s^{v->t}_ij log p^{v->t}_ij + s^{t->v}_ij log p^{t->v}_ij)."""
    n = logits.shape[0]
    log_p_v2t = logits.log_softmax(dim=1)
    log_p_t2v = logits.t().log_softmax(dim=1)
    # 0 log 0 = 0: pairs masked out of both the logits and the targets (mask_shared_images) add nothing
    v2t = torch.where(s_v2t > 0, s_v2t * log_p_v2t, 0.0)
    t2v = torch.where(s_t2v > 0, s_t2v * log_p_t2v, 0.0)
    return -(v2t.sum() + t2v.sum()) / (2 * n)


# --------------------------------------------------------------------------------------------
# Eq. 8-10 -- cross-modal fusion
# --------------------------------------------------------------------------------------------

def cross_modal_fusion(m_v: torch.Tensor, m_t: torch.Tensor) -> torch.Tensor:
    """Eq. 8-10 for (B, d) vectors; returns the flattened (B, d*d) interaction matrix m^f.

    Each d-vector is a d x 1 column, so [m^v][m^t]^T is d x d:
      f_{t->v} = softmax(m^v m^t^T / sqrt(d)) (softmax over the last axis), m^v_f = f_{t->v} m^v;
      f_{v->t} = softmax(m^t m^v^T / sqrt(d)),                              m^t_f = f_{v->t} m^t;
      m^f = m^v_f (outer) m^t_f, flattened row-major.
    """
    d = m_v.shape[-1]
    f_t2v = (m_v.unsqueeze(2) * m_t.unsqueeze(1) / math.sqrt(d)).softmax(dim=-1)
    f_v2t = (m_t.unsqueeze(2) * m_v.unsqueeze(1) / math.sqrt(d)).softmax(dim=-1)
    mf_v = (f_t2v @ m_v.unsqueeze(2)).squeeze(2)
    mf_t = (f_v2t @ m_t.unsqueeze(2)).squeeze(2)
    return (mf_v.unsqueeze(2) * mf_t.unsqueeze(1)).flatten(1)


# --------------------------------------------------------------------------------------------
# Section 3.4.1 -- SE-style modality attention
# --------------------------------------------------------------------------------------------

def modality_squeeze(features: torch.Tensor) -> torch.Tensor:
    """F_sq: global average pool of the (B, 3, L) stacked [m^v, m^t, m^f] to (B, 3)."""
    return features.mean(dim=-1)


def attention_weights(gate_logits: torch.Tensor, log_softmax: bool = False,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention weights a and log a from the excitation's (B, 3) pre-activation.

    Paper: sigmoid gates s (SE-Net), normalised a = s / sum(s) so that a is a distribution for
    the KL of Eq. 14 and Eq. 15 scales each feature by its share. Released code
    (``log_softmax=True``): the weights that multiply the features ARE log-softmax values.
    Returns (weights used in Eq. 15, log-probabilities used in Eq. 14).
    """
    if log_softmax:
        log_a = gate_logits.log_softmax(dim=-1)
        return log_a, log_a
    log_s = F.logsigmoid(gate_logits)
    log_a = log_s - torch.logsumexp(log_s, dim=-1, keepdim=True)
    return log_a.exp(), log_a


def aggregate(m_v: torch.Tensor, m_t: torch.Tensor, m_f: torch.Tensor, weights: torch.Tensor,
              ) -> torch.Tensor:
    """Eq. 15: x~ = (a_v m^v) (+) (a_t m^t) (+) (a_f m^f), weights (B, 3) in order v, t, f."""
    return torch.cat([weights[:, 0:1] * m_v, weights[:, 1:2] * m_t, weights[:, 2:3] * m_f], dim=-1)


# --------------------------------------------------------------------------------------------
# Eq. 11-14 -- ambiguity guidance
# --------------------------------------------------------------------------------------------

def gaussian_kl(mu_p: torch.Tensor, logvar_p: torch.Tensor, mu_q: torch.Tensor,
                logvar_q: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_p, var_p) || N(mu_q, var_q)) for diagonal Gaussians, summed over the last axis."""
    var_ratio = (logvar_p - logvar_q).exp()
    mahal = (mu_p - mu_q).pow(2) / logvar_q.exp()
    return 0.5 * (var_ratio + mahal - 1.0 - (logvar_p - logvar_q)).sum(dim=-1)


def moment_matched_gaussian(mu: torch.Tensor, logvar: torch.Tensor,
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 11: the batch mixture (1/N) sum_i q(z_i|m_i) as a Gaussian with the mixture's moments.

    The KL between two Gaussian mixtures has no closed form; the Gaussian with the mixture's mean
    and variance (mean = mean_i mu_i, var = mean_i (var_i + mu_i^2) - mean^2) is the standard
    single-Gaussian approximation. Returns (1, K) mean and log-variance.
    """
    mean = mu.mean(dim=0, keepdim=True)
    var = (logvar.exp() + mu.pow(2)).mean(dim=0, keepdim=True) - mean.pow(2)
    return mean, var.clamp_min(1e-12).log()


def ambiguity_scores(mu_v: torch.Tensor, logvar_v: torch.Tensor, mu_t: torch.Tensor,
                     logvar_t: torch.Tensor, aggregate_ratio: bool = True, eps: float = 1e-6,
                     ) -> torch.Tensor:
    """Eq. 12-13: g_i = sigmoid((g^{v->t}_i + g^{t->v}_i) / 2), shape (B,).

    g^{v->t}_i = KL(q(z^v_i|m^v_i) || q(z^t_i|m^t_i)) / KL(q(z^v) || q(z^t)) with the batch
    aggregates of Eq. 11 (see ``moment_matched_gaussian``). The released code omits the
    denominator (``aggregate_ratio=False``; it also estimates each KL from one sample, whose
    expectation is the closed form used here).
    """
    kl_v2t = gaussian_kl(mu_v, logvar_v, mu_t, logvar_t)
    kl_t2v = gaussian_kl(mu_t, logvar_t, mu_v, logvar_v)
    if aggregate_ratio:
        agg_mu_v, agg_lv_v = moment_matched_gaussian(mu_v, logvar_v)
        agg_mu_t, agg_lv_t = moment_matched_gaussian(mu_t, logvar_t)
        kl_v2t = kl_v2t / gaussian_kl(agg_mu_v, agg_lv_v, agg_mu_t, agg_lv_t).clamp_min(eps)
        kl_t2v = kl_t2v / gaussian_kl(agg_mu_t, agg_lv_t, agg_mu_v, agg_lv_v).clamp_min(eps)
    return torch.sigmoid(0.5 * (kl_v2t + kl_t2v))


def ambiguity_target(g: torch.Tensor, normalise: bool = True) -> torch.Tensor:
    """Eq. 14's target [1-g, 1-g, g] per sample (B, 3); normalised by its sum 2-g to be a distribution.

    ``normalise=False`` is the released code's target, which does not sum to 1.
    """
    target = torch.stack([1.0 - g, 1.0 - g, g], dim=-1)
    if normalise:
        target = target / target.sum(dim=-1, keepdim=True)
    return target


def attention_guidance_loss(log_a: torch.Tensor, target: torch.Tensor,
                            code_direction: bool = False, detach_target: bool = True) -> torch.Tensor:
    """Eq. 14: L_AG = D_KL(a || g), summed over the 3 modalities and averaged over the batch.

    g is the reference the attention is guided towards, so it is detached (``detach_target``):
    otherwise minimising L_AG also moves g towards a, and the easiest minimum is a constant g
    (measured: g = sigmoid(1) for every item, a = [0.21, 0.21, 0.58]). The released code leaves the
    target attached (``detach_target=False``), which trains its ambiguity encoders through L_AG.
    ``code_direction=True`` gives what the released ``KLDivLoss(reduction='batchmean')(log_a, g)``
    computes: sum g (log g - log a), i.e. D_KL(g || a).
    """
    if detach_target:
        target = target.detach()
    log_target = target.clamp_min(1e-12).log()
    if code_direction:
        per_sample = (target * (log_target - log_a)).sum(dim=-1)
    else:
        per_sample = (log_a.exp() * (log_a - log_target)).sum(dim=-1)
    return per_sample.mean()


# --------------------------------------------------------------------------------------------
# Eq. 17-19 -- classification and the total objective
# --------------------------------------------------------------------------------------------

def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 16-17: mean -(y log y^ + (1-y) log(1-y^)) with y^ = softmax(logits)[:, 1]."""
    return F.cross_entropy(logits, labels)


def total_loss(itm: torch.Tensor, itc: torch.Tensor, sem: torch.Tensor, cls: torch.Tensor,
               ag: torch.Tensor, lambda_sem: float, gamma: float) -> torch.Tensor:
    """Eq. 7, 18, 19: L = L_ITM + (L_ITC + lambda L_SEM) + (L_CLS + gamma L_AG)."""
    return itm + (itc + lambda_sem * sem) + (cls + gamma * ag)
