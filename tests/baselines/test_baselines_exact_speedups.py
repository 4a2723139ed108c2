"""Exact (or same-distribution) speed-ups of the baselines, each against the computation it replaces:
MCAN's feed-forward on real slots and text trimmed; VisualBERT's trim and [CLS]-only last layer; the
text CNN in groups of similar length (EANN, CAFE); MCAN's and KMGCN's image projection once per
distinct image; FastDropout (MCAN), tested for nn.Dropout's distribution rather than its draws."""

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


# ---- TextCNN (EANN, CAFE): convolutions over groups of similar length, each cut after its longest text

def test_trailing_padding_cut_keeps_through_the_batchs_last_real_slot():
    from benchmark.models.layers import trailing_padding_cut
    mask = torch.tensor([[True, False, True, False, False, False, False],
                         [False, False, False, False, False, False, False]])
    assert trailing_padding_cut(mask) == 3  # a gap inside a text is kept
    assert trailing_padding_cut(torch.zeros(2, 7, dtype=torch.bool)) == 1


def _padded_text_cnn(cnn, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The text CNN over the whole padded batch, as it was computed before length groups (the reference)."""
    import torch.nn.functional as F
    mask = mask.bool()
    x = (tokens * mask.unsqueeze(-1)).transpose(1, 2)  # (B, D, L)
    feats = []
    for window, conv in zip(cnn.windows, cnn.convs):
        xx, mm = x, mask
        if x.size(2) < window:
            xx, mm = F.pad(x, (0, window - x.size(2))), F.pad(mask, (0, window - x.size(2)))
        h = cnn.act(conv(xx))
        h = h.masked_fill(~mm[:, : h.size(2)].unsqueeze(1), float("-inf"))
        pooled = h.max(dim=2).values
        feats.append(torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled)))
    return torch.cat(feats, dim=1)


def _text_cnn_case(length: int):
    g = torch.Generator().manual_seed(length)
    lengths = torch.tensor([1, 6, 3, 0, length, 5])  # one empty text, one that fills every slot
    mask = torch.arange(length).unsqueeze(0) < lengths.clamp(max=length).unsqueeze(1)
    mask[1, 2] = False  # a gap inside a text: zeros inside its windows
    tokens = torch.randn(6, length, DIMS.text_dim, generator=g) * 3
    return tokens.requires_grad_(), mask


def test_text_cnn_in_length_groups_equals_the_padded_batch():
    from benchmark.models.layers import TextCNN
    for activation in ("relu", "leaky_relu"):
        for length in (16, 9, 3):  # 3: shorter than the widest window (the padded version pads it)
            torch.manual_seed(0)
            cnn = TextCNN(DIMS.text_dim, windows=(1, 2, 4, 8), filters=5, activation=activation,
                          length_groups=3)
            tokens, mask = _text_cnn_case(length)
            fast, slow = cnn(tokens, mask), _padded_text_cnn(cnn, tokens, mask)
            torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
            weights = torch.randn(fast.shape)
            fast_grads = torch.autograd.grad((fast * weights).sum(), [tokens, *cnn.parameters()])
            slow_grads = torch.autograd.grad((slow * weights).sum(), [tokens, *cnn.parameters()])
            for a, b in zip(fast_grads, slow_grads):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
            assert fast[3].abs().sum() == 0 and fast[4].abs().sum() > 0  # empty text; full text


def test_eann_cafe_safe_train_step_unchanged_by_length_groups(monkeypatch):
    """Training mode (dropout on): grouping consumes no random numbers, so losses and gradients match."""
    from benchmark.models import layers
    batch = _batch()
    wide = dict(batch, text_tokens=torch.cat([batch["text_tokens"], torch.zeros(6, 10, DIMS.text_dim)], 1),
                text_mask=torch.cat([batch["text_mask"], torch.zeros(6, 10, dtype=torch.bool)], 1),
                event=torch.tensor([0, 1, 0, 1, 0, 1]))
    dims = FeatureDims(text_dim=12, image_dim=10, text_len=19, image_regions=5, num_events=2)

    def step(name):
        torch.manual_seed(0)
        model = build_model(name, resolve_config(name, "default", {}), dims).train()
        torch.manual_seed(1)
        out = model(wide)
        grads = torch.autograd.grad(out.losses["total"], [p for p in model.parameters() if p.requires_grad],
                                    allow_unused=True)
        return out.losses["total"], grads

    fast = {name: step(name) for name in ("eann", "cafe", "safe")}
    monkeypatch.setattr(layers.TextCNN, "forward", _padded_text_cnn)
    for name in fast:
        loss, grads = step(name)
        torch.testing.assert_close(fast[name][0], loss, rtol=1e-5, atol=1e-6, msg=name)
        for a, b in zip(fast[name][1], grads):
            if b is not None:
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


# ---- FastDropout (MCAN): nn.Dropout's distribution with a cheaper mask

def test_fast_dropout_keeps_each_element_with_probability_one_minus_p_and_rescales():
    from benchmark.models.layers import FastDropout
    drop = FastDropout(0.3).train()
    x = torch.full((400, 500), 2.0, requires_grad=True)
    torch.manual_seed(0)
    y = drop(x)
    kept = y != 0
    frac, n = kept.float().mean().item(), kept.numel()
    assert abs(frac - 0.7) < 5 * (0.7 * 0.3 / n) ** 0.5  # Bernoulli(0.7): within 5 sigma
    assert torch.equal(y[kept], torch.full_like(y[kept], 2.0 / 0.7))  # inverted scaling, exactly
    # no spatial structure: the keep rate of rows and of columns does not drift
    assert kept.float().mean(1).std() < 0.05 and kept.float().mean(0).std() < 0.05
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.7)  # gradient flows through kept elements only
    torch.manual_seed(0)
    assert torch.equal(drop(x), y)  # torch's generator: the same seed gives the same mask
    assert torch.equal(drop.eval()(x), x)  # identity in eval mode


def test_fast_dropout_under_bf16_autocast_scales_exactly():
    from benchmark.models.layers import FastDropout
    drop = FastDropout(0.5).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = drop(torch.ones(64, 64, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16 and set(y.unique().tolist()) == {0.0, 2.0}


def test_mcan_uses_fast_dropout_where_its_masks_are_large():
    from benchmark.models.layers import FastDropout
    config = resolve_config("mcan", "default", {"model_dim": 16, "num_heads": 2, "ffn_dim": 32})
    model = build_model("mcan", config, DIMS)
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
    assert sum(isinstance(m, FastDropout) for m in model.modules()) == 2 * 2 * config.num_layers + 1  # per block: feed-forward + residual


# ---- MCAN and KMGCN: the image projection once per distinct image of the batch

def _shared_image_table(n: int = 12):
    from benchmark.features import FeatureTable
    g = torch.Generator().manual_seed(3)
    images = torch.randn(4, DIMS.image_regions, DIMS.image_dim, generator=g)  # 4 distinct images
    image_index = torch.tensor([0, 1, 0, 2, 3, 0, 1, 1, 2, 3, 0, 3])[:n]
    lengths = torch.tensor([1, 7, 3, 5, 2, 7, 4, 6, 1, 3, 2, 5])[:n]
    mask = torch.arange(DIMS.text_len).unsqueeze(0) < lengths.unsqueeze(1)
    tokens = torch.randn(n, DIMS.text_len, DIMS.text_dim, generator=g) * mask.unsqueeze(-1)
    has_image = torch.tensor([True] * 10 + [False, True])[:n]
    return FeatureTable(item_ids=[str(i) for i in range(n)], labels=torch.tensor([0, 1] * (n // 2)),
                        events=torch.full((n,), -1),
                        columns={"text_tokens": tokens, "text_mask": mask, "has_image": has_image,
                                 "image_pooled": images.mean(1)[image_index]},
                        shared={"image_regions": (images, image_index)})


def test_mcan_and_kmgcn_project_each_distinct_image_once_with_the_same_results():
    table = _shared_image_table()
    idx = torch.tensor([0, 2, 5, 10, 1, 6, 7, 3])  # images 0, 0, 0, 0, 1, 1, 1, 2
    for name, overrides in (("mcan", {"model_dim": 16, "num_heads": 2, "ffn_dim": 32}), ("kmgcn", {})):
        torch.manual_seed(0)
        model = build_model(name, resolve_config(name, "default", overrides), DIMS).train()
        fast_batch = table.batch(idx, set(model.requires))
        assert "image_regions" not in fast_batch and fast_batch["image_regions_unique"].shape[0] == 3
        per_item = {k: v for k, v in fast_batch.items() if k not in ("image_regions_unique", "image_row_inverse")}
        per_item["image_regions"] = table.batch(idx, {"image_regions"})["image_regions"]
        results = []
        for batch in (fast_batch, per_item):
            torch.manual_seed(1)  # dropout draws the same masks: the projection consumes no random numbers
            out = model(batch)
            grads = torch.autograd.grad(out.losses["total"], list(model.parameters()), allow_unused=True)
            results.append((out, grads))
        (fast, fast_grads), (slow, slow_grads) = results
        torch.testing.assert_close(fast.logits, slow.logits, rtol=1e-5, atol=1e-6, msg=name)
        torch.testing.assert_close(fast.losses["total"], slow.losses["total"], rtol=1e-5, atol=1e-6, msg=name)
        for a, b in zip(fast_grads, slow_grads):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
