"""The defining computation of MKEMN, MCNN, LIIMR, FND-CLIP and CMC against small hand computations,
and the two-stage models' ``prepare`` (trained on the training split, then frozen)."""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import baselines  # noqa: E402,F401
from baselines.cmc import cross_modal_nce, mutual_kl  # noqa: E402
from baselines.fnd_clip import contrastive_pair_loss, modality_attention  # noqa: E402
from baselines.liimr import multiplicative_loss  # noqa: E402
from baselines.mcnn import MCNN, consistency  # noqa: E402
from baselines.mkemn import memory_read  # noqa: E402
from baselines.synthetic import random_batch  # noqa: E402
from benchmark.features import FeatureDims, FeatureSplits, FeatureTable  # noqa: E402
from benchmark.models.base import PrepareContext  # noqa: E402
from benchmark.variants import build_model, resolve_config  # noqa: E402

SMALL = FeatureDims(text_dim=6, image_dim=5, text_len=4, image_regions=3)
E = math.e


# ---------------------------------------------------------------- MKEMN
def test_memory_read_by_hand() -> None:
    query = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    read, weights = memory_read(query, memory)
    w0 = torch.tensor([E / (E + 1), 1 / (E + 1)])
    w1 = torch.tensor([1 / (1 + E ** 2), E ** 2 / (1 + E ** 2)])
    assert torch.allclose(weights, torch.stack([w0, w1]))
    assert torch.allclose(read, torch.stack([w0, w1]))  # memory = identity: the read is the weights


def test_mkemn_image_channel_reaches_the_prediction() -> None:
    torch.manual_seed(0)
    model = build_model("mkemn", resolve_config("mkemn"), SMALL).eval()
    batch = random_batch(SMALL, 3, generator=torch.Generator().manual_seed(1))
    other = dict(batch, image_pooled=batch["image_pooled"] + 1.0)
    with torch.no_grad():
        assert not torch.allclose(model(batch).logits, model(other).logits)


# ---------------------------------------------------------------- MCNN
def test_consistency_by_hand() -> None:
    text = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [3.0, 4.0]])
    image = torch.tensor([[2.0, 0.0], [-1.0, 0.0], [0.0, 5.0], [4.0, 3.0]])
    assert torch.allclose(consistency(text, image), torch.tensor([1.0, 0.0, 0.5, (1 + 24 / 25) / 2]))


def test_mcnn_scales_its_semantic_features_by_their_consistency() -> None:
    torch.manual_seed(0)
    model = build_model("mcnn", resolve_config("mcnn"), SMALL).eval()
    batch = random_batch(SMALL, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(batch)
        t, v = model.text_net(batch["text_pooled"]), model.image_net(batch["image_pooled"])
        s = consistency(t, v).unsqueeze(1)
        tamper = model.tamper_net(model.ela_image(batch["image_ela"]) * model.config.ela_scale)
        expected = model.classifier_body(torch.cat([s * t, s * v, tamper], dim=1))
    assert torch.allclose(out.diagnostics["consistency"], s.squeeze(1))
    assert torch.allclose(out.representation, expected)


def test_mcnn_reads_the_ela_map_as_an_image_and_its_tampering_branch_matters() -> None:
    cells = torch.arange(2 * 32 * 32 * 3, dtype=torch.float32).reshape(2, 32 * 32, 3)
    image = MCNN.ela_image(cells)
    assert image.shape == (2, 3, 32, 32)
    assert image[1, 2, 0, 1] == cells[1, 1, 2] and image[0, 0, 1, 0] == cells[0, 32, 0]  # row-major cells
    torch.manual_seed(0)
    model = build_model("mcnn", resolve_config("mcnn"), SMALL).eval()
    batch = random_batch(SMALL, 3, generator=torch.Generator().manual_seed(3))
    tampered = dict(batch, image_ela=batch["image_ela"].clone())
    tampered["image_ela"][:, :100] += 0.3  # a bright patch of recompression error
    with torch.no_grad():
        assert not torch.allclose(model(batch).logits, model(tampered).logits)


# ---------------------------------------------------------------- LIIMR
def test_multiplicative_loss_by_hand() -> None:
    # two predictors, true-class probabilities 0.8 and 0.6 for one item (label 1)
    probs = torch.tensor([[[0.2, 0.8]], [[0.4, 0.6]]])
    labels = torch.tensor([1])
    loss = multiplicative_loss(probs, labels, beta=1.0)
    assert loss.item() == pytest.approx(-(0.4 * math.log(0.8) + 0.2 * math.log(0.6)), rel=1e-6)
    # beta = 0: the plain sum of the cross-entropies
    assert multiplicative_loss(probs, labels, 0.0).item() == pytest.approx(-(math.log(0.8) + math.log(0.6)))
    # three predictors, beta 2 -> exponent 1: weight of each = product of the others' misses
    p3 = torch.tensor([[[0.5, 0.5]], [[0.1, 0.9]], [[0.7, 0.3]]])
    miss = [0.5, 0.1, 0.7]
    expected = -(miss[1] * miss[2] * math.log(0.5) + miss[0] * miss[2] * math.log(0.9)
                 + miss[0] * miss[1] * math.log(0.3))
    assert multiplicative_loss(p3, labels, 2.0).item() == pytest.approx(expected, rel=1e-6)


def test_multiplicative_loss_weights_are_constants_in_the_backward_pass() -> None:
    p = torch.tensor([0.8, 0.6], requires_grad=True)
    probs = torch.stack([torch.stack([1 - p[0], p[0]]), torch.stack([1 - p[1], p[1]])]).unsqueeze(1)
    multiplicative_loss(probs, torch.tensor([1]), 1.0).backward()
    assert torch.allclose(p.grad, torch.tensor([-0.4 / 0.8, -0.2 / 0.6]))


def test_liimr_predicts_the_mean_probability_of_its_three_predictors() -> None:
    torch.manual_seed(0)
    model = build_model("liimr", resolve_config("liimr"), SMALL).eval()
    batch = random_batch(SMALL, 3, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = model(batch)
        text, image = out.representation.split(2 * model.config.model_dim, dim=1)
        probs = torch.stack([model.text_head(text), model.image_head(image),
                             model.joint_head(out.representation)]).softmax(-1).mean(0)
    assert torch.allclose(out.logits.softmax(-1), probs, atol=1e-6)


# ---------------------------------------------------------------- FND-CLIP
def test_contrastive_pair_loss_by_hand() -> None:
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = t.clone()
    eye = torch.eye(2, dtype=torch.bool)
    # logits [[1, 0], [0, 1]]: each row -log(e / (e + 1)), both directions alike
    assert contrastive_pair_loss(t, v, eye, 1.0).item() == pytest.approx(math.log(E + 1) - 1)
    logits = 3.0 * t @ v.T
    clip = (F.cross_entropy(logits, torch.arange(2)) + F.cross_entropy(logits.T, torch.arange(2))) / 2
    assert torch.allclose(contrastive_pair_loss(t, v, eye, 3.0), clip)
    # the same image twice: both columns are positives, nothing is left to contrast
    assert contrastive_pair_loss(t, v, torch.ones(2, 2, dtype=torch.bool), 1.0).item() == pytest.approx(0.0, abs=1e-7)


def test_duplicate_rows_are_found_as_positives() -> None:
    from baselines.fnd_clip import _same_rows
    x = torch.tensor([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0], [1.0, 2.5]])
    expected = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.bool)
    assert torch.equal(_same_rows(x), expected)


def test_modality_attention_by_hand() -> None:
    features = torch.tensor([[[1.0, 3.0], [2.0, 2.0], [0.0, -1.0]]])
    weights = modality_attention(features, nn.Identity())
    assert torch.allclose(weights, torch.sigmoid(torch.tensor([[2 + 3, 2 + 2, -0.5 + 0.0]])))


def _pair_splits(n: int = 48, seed: int = 0) -> FeatureSplits:
    """Texts and images that share a latent per item (so matched pairs can be found), half fake."""
    g = torch.Generator().manual_seed(seed)

    def table(count: int) -> FeatureTable:
        latent = torch.randn(count, 4, generator=g)
        labels = torch.arange(count) % 2
        text = torch.cat([latent, torch.randn(count, 2, generator=g) * 0.1], 1) + labels.unsqueeze(1) * 0.5
        image = torch.cat([latent @ torch.tensor([[0.0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]),
                           torch.randn(count, 1, generator=g) * 0.1], 1) + labels.unsqueeze(1) * 0.5
        return FeatureTable(item_ids=[str(i) for i in range(count)], labels=labels,
                            events=torch.full((count,), -1), columns={
                                "text_pooled": text, "image_pooled": image,
                                "has_image": torch.ones(count, dtype=torch.bool)})
    return FeatureSplits(train=table(n), validation=table(8), test=table(8), dims=SMALL)


def _context() -> PrepareContext:
    return PrepareContext(device=torch.device("cpu"), seed=0, cache_dir=None)


def test_fnd_clip_stand_in_is_trained_on_train_only_then_frozen() -> None:
    torch.manual_seed(0)
    splits = _pair_splits()
    model = build_model("fnd_clip", resolve_config("fnd_clip", overrides={"clip_epochs": 30, "clip_batch_size": 16}),
                        SMALL)
    batch = splits.train.batch(torch.arange(len(splits.train)), {"text_pooled", "image_pooled", "has_image"})
    with torch.no_grad():
        before = float(model.clip_loss(batch))
    head_before = [p.clone() for p in model.text_uni.parameters()]
    model.prepare(splits, _context())
    with torch.no_grad():
        after = float(model.clip_loss(batch))
        t, v = model.clip_features(batch)
    assert after < before - 0.5, (before, after)
    sims = t @ v.T
    assert float(sims.diagonal().mean()) > float(sims.mean()) + 0.2  # matched pairs closer than the rest
    assert all(not p.requires_grad for p in model._clip_parameters())
    assert all(torch.equal(a, b) for a, b in zip(head_before, model.text_uni.parameters()))  # detector untouched
    optimised = {id(p) for group in model.configure_optimizers()[0].param_groups for p in group["params"]}
    assert not optimised & {id(p) for p in model._clip_parameters()}


# ---------------------------------------------------------------- CMC
def test_cross_modal_nce_by_hand() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # different classes: each post's other-class neighbour is a negative -> -log(e / (e + 1)) per row
    assert cross_modal_nce(a, a.clone(), torch.tensor([0, 1]), 1.0).item() == pytest.approx(math.log(E + 1) - 1)
    # same class: no negatives, nothing to contrast
    assert cross_modal_nce(a, a.clone(), torch.tensor([1, 1]), 1.0).item() == pytest.approx(0.0, abs=1e-7)
    # temperature 0.5 doubles the logits
    assert cross_modal_nce(a, a.clone(), torch.tensor([0, 1]), 0.5).item() == pytest.approx(math.log(E ** 2 + 1) - 2)


def test_mutual_kl_is_zero_for_equal_outputs_and_symmetric() -> None:
    x = torch.tensor([[1.0, -1.0], [0.5, 2.0]])
    y = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    assert mutual_kl(x, x, 4.0).item() == pytest.approx(0.0, abs=1e-7)
    assert mutual_kl(x, y, 2.0).item() == pytest.approx(mutual_kl(y, x, 2.0).item())
    p, q = F.softmax(x, -1), F.softmax(y, -1)
    by_hand = ((p * (p / q).log()).sum(1) + (q * (q / p).log()).sum(1)).mean()
    assert mutual_kl(x, y, 1.0).item() == pytest.approx(float(by_hand), rel=1e-6)


def test_cmc_stage_one_trains_the_modality_networks_and_stage_two_only_the_fusion_layer() -> None:
    torch.manual_seed(0)
    splits = _pair_splits()
    model = build_model("cmc", resolve_config("cmc", overrides={"stage1_epochs": 5, "stage1_batch_size": 16}),
                        SMALL)
    stage1_before = [p.clone() for p in model._stage1_parameters()]
    fc_before = model.fc.weight.clone()
    model.prepare(splits, _context())
    assert any(not torch.equal(a, b) for a, b in zip(stage1_before, model._stage1_parameters()))
    assert torch.equal(fc_before, model.fc.weight)
    assert all(not p.requires_grad for p in model._stage1_parameters())
    model.train()
    assert not model.text_net.training and not model.image_net.training  # frozen networks: no dropout
    batch = splits.train.batch(torch.arange(8), {"text_pooled", "image_pooled"})
    model(batch).losses["total"].backward()
    assert model.fc.weight.grad is not None and all(p.grad is None for p in model._stage1_parameters())


# ---------------------------------------------------------------- optional real components
WITH_EXTRAS = FeatureDims(text_dim=6, image_dim=5, text_len=4, image_regions=3,
                          extras={"text_clip": 7, "image_clip": 7, "entities_pooled": 6, "concepts_pooled": 6})


def test_fnd_clip_reads_real_clip_embeddings_when_the_run_supplies_them() -> None:
    torch.manual_seed(0)
    model = build_model("fnd_clip", resolve_config("fnd_clip"), WITH_EXTRAS).eval()
    assert model.real_clip and {"text_clip", "image_clip"} <= model.requires
    assert not hasattr(model, "clip_text")  # no stand-in built
    g = torch.Generator().manual_seed(2)
    batch = dict(random_batch(WITH_EXTRAS, 4, generator=g), text_clip=torch.randn(4, 7, generator=g),
                 image_clip=torch.randn(4, 1, 7, generator=g).half())
    t, v = model.clip_features(batch)
    assert torch.allclose(t, F.normalize(batch["text_clip"], dim=-1))
    assert torch.allclose(v, F.normalize(batch["image_clip"][:, 0].float(), dim=-1))
    with torch.no_grad():
        base = model(batch).logits
        assert not torch.allclose(base, model(dict(batch, text_clip=batch["text_clip"].flip(0))).logits)
    before = [p.clone() for p in model.parameters()]
    model.prepare(_pair_splits(), _context())  # nothing to train
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # the stand-in without them
    assert not build_model("fnd_clip", resolve_config("fnd_clip"), SMALL).real_clip


def test_mkemn_knowledge_channels_reach_the_prediction_when_an_entity_file_is_given() -> None:
    torch.manual_seed(0)
    plain = build_model("mkemn", resolve_config("mkemn"), SMALL)
    model = build_model("mkemn", resolve_config("mkemn"), WITH_EXTRAS).eval()
    assert plain.knowledge == () and model.knowledge == ("entities", "concepts")
    assert model.cnn.convs[0].in_channels == 4 * model.config.channel_dim  # word, image, entities, concepts
    assert {"entities_pooled", "concepts_pooled"} <= model.requires
    g = torch.Generator().manual_seed(3)
    batch = dict(random_batch(WITH_EXTRAS, 3, generator=g), entities_pooled=torch.randn(3, 6, generator=g),
                 concepts_pooled=torch.randn(3, 6, generator=g))
    with torch.no_grad():
        base = model(batch).logits
        for key in ("entities_pooled", "concepts_pooled"):
            assert not torch.allclose(base, model(dict(batch, **{key: batch[key] + 1.0})).logits), key
