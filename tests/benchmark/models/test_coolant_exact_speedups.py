"""COOLANT's image layer once per distinct image and text layer on real tokens only: same numbers.

The dense computation (every tweet's regions, every padded token slot) is written out here as the
reference; the model's rewrite must match it to float tolerance, in the encoders and in every loss.
"""

from __future__ import annotations

import torch

from benchmark.features import FeatureDims, FeatureTable
from benchmark.models.coolant import Coolant, CoolantConfig, UnimodalEncoder

DIMS = FeatureDims(text_dim=12, image_dim=10, text_len=7, image_regions=5)


def _dense(encoder: UnimodalEncoder, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    h = encoder.fc(x)
    if mask is None:
        return h.mean(dim=1)
    w = mask.to(h.dtype).unsqueeze(-1)
    return (h * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)


def _table(seed: int = 0, n: int = 12) -> FeatureTable:
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(4, DIMS.image_regions, DIMS.image_dim, generator=g)  # 4 distinct images
    image_index = torch.tensor([0, 1, 0, 2, 3, 0, 1, 1, 2, 3, 0, 3])[:n]
    tokens = torch.randn(n, DIMS.text_len, DIMS.text_dim, generator=g)
    lengths = torch.tensor([1, 7, 3, 5, 2, 7, 4, 6, 1, 3, 2, 5])[:n]
    mask = torch.arange(DIMS.text_len).unsqueeze(0) < lengths.unsqueeze(1)
    return FeatureTable(item_ids=[str(i) for i in range(n)], labels=torch.tensor([0, 1] * (n // 2)),
                        events=torch.full((n,), -1),
                        columns={"text_tokens": tokens * mask.unsqueeze(-1), "text_mask": mask},
                        shared={"image_regions": (images, image_index)})


def test_encoders_match_the_dense_computation():
    torch.manual_seed(0)
    table = _table()
    batch = table.batch(torch.arange(len(table)))
    assert torch.equal(batch["image_row"], table.shared["image_regions"][1])
    image_enc = UnimodalEncoder(DIMS.image_dim, 8, dropout=0.0).eval()
    text_enc = UnimodalEncoder(DIMS.text_dim, 8, dropout=0.0).eval()
    fast_v = image_enc(batch["image_regions"], rows=batch["image_row"])
    torch.testing.assert_close(fast_v, _dense(image_enc, batch["image_regions"], None), rtol=1e-6, atol=1e-6)
    fast_t = text_enc(batch["text_tokens"], batch["text_mask"])
    torch.testing.assert_close(fast_t, _dense(text_enc, batch["text_tokens"], batch["text_mask"]),
                               rtol=1e-6, atol=1e-6)


def test_coolant_losses_equal_with_and_without_the_image_rows():
    torch.manual_seed(0)
    model = Coolant(CoolantConfig(dropout=0.0), DIMS).eval()
    table = _table(seed=1)
    batch = table.batch(torch.arange(len(table)))
    fast = model(batch)
    slow_batch = {k: v for k, v in batch.items() if k != "image_row"}  # the old per-tweet path
    slow = model(slow_batch)
    torch.testing.assert_close(fast.logits, slow.logits, rtol=1e-6, atol=1e-6)
    for name, value in slow.losses.items():
        torch.testing.assert_close(fast.losses[name], value, rtol=1e-6, atol=1e-6, msg=name)
    fast.losses["total"].backward()  # gradients flow through the gathered rows
    assert model.image_encoder.fc[0].weight.grad is not None


def test_each_distinct_image_once_in_the_batch_gives_the_per_item_results():
    """FeatureTable.batch's image_regions_unique (what COOLANT asks for) against the per-item regions:
    same logits, losses and gradients; the batch holds each distinct image once."""
    torch.manual_seed(0)
    model = Coolant(CoolantConfig(dropout=0.0), DIMS).eval()
    table = _table(seed=2)
    idx = torch.tensor([5, 0, 2, 7, 6, 1, 10, 3])  # images 0, 0, 0, 1, 1, 1, 0, 2: three distinct
    compact = table.batch(idx, set(model.requires))
    assert "image_regions" not in compact and compact["image_regions_unique"].shape[0] == 3
    per_item = table.batch(idx, {"text_tokens", "text_mask", "image_regions"})
    torch.testing.assert_close(compact["image_regions_unique"][compact["image_row_inverse"]],
                               per_item["image_regions"], rtol=0, atol=0)
    outs = []
    for batch in (compact, per_item):
        out = model(batch)
        grads = torch.autograd.grad(out.losses["total"], [p for p in model.parameters() if p.requires_grad],
                                    allow_unused=True)
        outs.append((out, grads))
    (a, ga), (b, gb) = outs
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-6, atol=1e-6)
    for key in a.losses:
        torch.testing.assert_close(a.losses[key], b.losses[key], rtol=1e-6, atol=1e-6)
    for x, y in zip(ga, gb):
        assert (x is None) == (y is None)
        if x is not None:
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)
