"""Supervised contrastive loss (Khosla et al. 2020), Eq. 2 of the NovEmoFake paper.

NovEmoFake pre-trains its novelty module with this loss: the projected, L2-normalised target and
source representations of every pair in a batch are anchors; an anchor's positives are all other
anchors of the same class (fake / real), so a target is pulled towards sources (and targets) of its
class and pushed away from the other class.

    L_i = -1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / tau) / sum_{a in A(i)} exp(z_i.z_a / tau) )

with A(i) = every anchor but i and P(i) = {p in A(i): y_p = y_i}. Two deliberate choices:

* The paper's Eq. 2 prints ``z_i . z_p`` inside the denominator's sum; that is a typo for
  ``z_i . z_a`` (the sum runs over ``a``), which is what Khosla et al. and the authors' released code
  (``losses.py``, SupConLoss) compute. We implement the Khosla form.
* Eq. 2 sums over anchors; we average over anchors (as Khosla's code does; with tau equal to their
  base temperature 0.07 their extra tau/base_tau factor is 1), so the loss scale and learning rate do
  not depend on the batch size. An anchor with NO positive (the only item of its class in the batch)
  has an undefined 1/|P(i)| term -- Khosla's original code returns NaN there. We exclude such anchors
  explicitly from the mean; when no anchor has a positive the loss is a zero that still carries a
  gradient graph, so a training step is a no-op rather than a crash.
"""

from __future__ import annotations

import torch

DEFAULT_TEMPERATURE = 0.07  # Khosla et al. 2020 and the authors' released code


def supervised_contrastive_loss(z: torch.Tensor, labels: torch.Tensor,
                                temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
    """Mean supervised contrastive loss over the anchors that have at least one positive.

    ``z``: (N, D) L2-normalised embeddings (every row is an anchor); ``labels``: (N,) class ids.
    """
    if z.dim() != 2:
        raise ValueError(f"z must be (N, D); got shape {tuple(z.shape)}")
    if labels.shape != (z.shape[0],):
        raise ValueError(f"labels must be (N,) = ({z.shape[0]},); got {tuple(labels.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    n = z.shape[0]
    if n < 2:
        return z.sum() * 0.0
    logits = z @ z.T / temperature
    # subtracting a per-row constant leaves every log-ratio unchanged and avoids overflow
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    positives = (labels.view(-1, 1) == labels.view(1, -1)) & ~self_mask
    # log-denominator over A(i): every anchor except i itself
    log_denominator = torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    log_prob = logits - log_denominator
    n_pos = positives.sum(dim=1)
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        return z.sum() * 0.0
    mean_log_prob_pos = (log_prob * positives).sum(dim=1)[has_pos] / n_pos[has_pos]
    return -mean_log_prob_pos.mean()
