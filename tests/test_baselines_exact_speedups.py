"""MCAN's feed-forward on real slots only and text trimmed to the batch's longest real text: exact."""

from __future__ import annotations

import torch

from baselines import mcan as mcan_module
from benchmark.features import FeatureDims
from benchmark.variants import build_model, resolve_config

DIMS = FeatureDims(text_dim=12, image_dim=10, text_len=9, image_regions=5)


def _batch(seed: int = 0, b: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([1, 6, 3, 0, 2, 5])[:b]  # one item without any text token
    mask = torch.arange(DIMS.text_len).unsqueeze(0) < lengths.unsqueeze(1)
    has_image = torch.tensor([True, True, False, True, True, False])[:b]
    return {"text_tokens": torch.randn(b, DIMS.text_len, DIMS.text_dim, generator=g) * mask.unsqueeze(-1),
            "text_mask": mask,
            "image_regions": torch.randn(b, DIMS.image_regions, DIMS.image_dim, generator=g)
            * has_image.view(-1, 1, 1),
            "image_pooled": torch.randn(b, DIMS.image_dim, generator=g) * has_image.view(-1, 1),
            "has_image": has_image, "label": torch.tensor([0, 1] * (b // 2))}


def test_mcan_sparse_feed_forward_and_trimming_equal_the_dense_model(monkeypatch):
    torch.manual_seed(0)
    config = resolve_config("mcan", "default", {"model_dim": 16, "num_heads": 2, "ffn_dim": 32})
    model = build_model("mcan", config, DIMS).eval()
    batch = _batch()
    fast = model(batch)
    # the same batch with six more padding slots: trimming must make it identical
    wider = dict(batch, text_tokens=torch.cat([batch["text_tokens"], torch.zeros(6, 6, DIMS.text_dim)], 1),
                 text_mask=torch.cat([batch["text_mask"], torch.zeros(6, 6, dtype=torch.bool)], 1))
    torch.testing.assert_close(model(wider).logits, fast.logits, rtol=1e-6, atol=1e-6)
    # the dense computation: every slot through the feed-forward
    original = mcan_module.CoAttentionBlock.forward
    monkeypatch.setattr(mcan_module.CoAttentionBlock, "forward",
                        lambda self, q, c, cp, query_pad=None: original(self, q, c, cp, None))
    dense = model(batch)
    torch.testing.assert_close(fast.logits, dense.logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.losses["total"], dense.losses["total"], rtol=1e-5, atol=1e-6)


def test_visualbert_trailing_padding_trim_is_exact():
    torch.manual_seed(0)
    model = build_model("visualbert", resolve_config("visualbert", "default", {}), DIMS).eval()
    batch = _batch()
    fast = model(batch)
    wider = dict(batch, text_tokens=torch.cat([batch["text_tokens"], torch.zeros(6, 6, DIMS.text_dim)], 1),
                 text_mask=torch.cat([batch["text_mask"], torch.zeros(6, 6, dtype=torch.bool)], 1))
    torch.testing.assert_close(model(wider).logits, fast.logits, rtol=1e-6, atol=1e-6)
    text, mask, _, _ = model._inputs(wider)
    assert text.shape[1] == 1 + 6 and mask[:, -1].any()  # [CLS] + the longest real text (6 tokens)


def test_visualbert_cls_only_last_layer_equals_the_library_forward(monkeypatch):
    """The last layer computed for the [CLS] query alone gives the library's pooled output, logits,
    loss and gradients (eval mode: dropout draws would differ, not their distribution)."""
    torch.manual_seed(0)
    config = resolve_config("visualbert", "default", {"num_layers": 3, "hidden_size": 32, "num_heads": 4,
                                                      "intermediate_size": 48})
    model = build_model("visualbert", config, DIMS).eval()
    batch = _batch()
    fast = model(batch)
    fast_grads = torch.autograd.grad(fast.losses["total"], list(model.encoder.parameters()), allow_unused=True)
    monkeypatch.setattr(type(model), "cls_only_last_layer", False)
    full = model(batch)
    full_grads = torch.autograd.grad(full.losses["total"], list(model.encoder.parameters()), allow_unused=True)
    torch.testing.assert_close(fast.logits, full.logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.losses["total"], full.losses["total"], rtol=1e-5, atol=1e-6)
    used = [(a, b) for a, b in zip(fast_grads, full_grads) if b is not None and b.abs().max() > 0]
    assert len(used) > 10
    for a, b in used:
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
