"""NovEmoFake model: every variant trains a step, prepare() pre-trains on train only and caches its products."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch

import ablations  # noqa: F401  (registers the variants)
from benchmark.features import FeatureDims, FeatureSplits, FeatureTable
from benchmark.models import novemofake_pretrain
from benchmark.models.base import PrepareContext
from benchmark.models.novemofake import (EMOTION_HIDDEN, NovEmoFakeConfig, NovEmoFakeModel,
                                         emotion_representation)
from benchmark.variants import resolve_config

DIMS = FeatureDims(text_dim=6, image_dim=5, text_len=3, image_regions=2, has_source=True)
VARIANTS = ["pm", "pmn", "pme", "pmne", "pm_visualbert", "pmn_visualbert", "pme_visualbert",
            "pmne_visualbert", "adam_pretrain", "pm_target_only", "pme_target_only",
            "pm_target_only_visualbert", "pme_target_only_visualbert"]
SMALL = dict(pretrain_epochs=2, pretrain_batch_size=16, emotion_pretrain_epochs=2, emotion_batch_size=8,
             visualbert_dim=8, visualbert_layers=1, visualbert_heads=2, novelty_dim=16, projection_dim=4,
             emotion_pca_dim=6, scaffold_dim=10, detector_hidden=(12, 6))


def make_table(n: int, seed: int, with_emotion: bool = True) -> FeatureTable:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    labels[:2] = torch.tensor([0, 1])
    columns = {}
    for prefix in ("", "source_"):
        columns[prefix + "text_tokens"] = torch.randn(n, DIMS.text_len, DIMS.text_dim, generator=g)
        mask = torch.ones(n, DIMS.text_len, dtype=torch.bool)
        mask[::3, -1] = False
        columns[prefix + "text_mask"] = mask
        columns[prefix + "text_pooled"] = torch.randn(n, DIMS.text_dim, generator=g)
        columns[prefix + "image_regions"] = torch.randn(n, DIMS.image_regions, DIMS.image_dim, generator=g)
        columns[prefix + "image_pooled"] = torch.randn(n, DIMS.image_dim, generator=g)
    has_source = torch.ones(n, dtype=torch.bool)
    has_source[-3:] = False
    columns["has_source"] = has_source
    for key in [k for k in columns if k.startswith("source_")]:
        columns[key][~has_source] = 0
    if with_emotion:
        emotion = torch.randint(0, 2, (n,), generator=g)
        emotion[::4] = -1  # unknown
        emotion[:2] = torch.tensor([0, 1])
        columns["emotion"] = emotion
    return FeatureTable(item_ids=[f"{seed}-{i}" for i in range(n)], labels=labels,
                        events=torch.full((n,), -1), columns=columns)


class ExplodingTable:
    """Stands in for features.test: any use at all fails the test."""

    def __getattribute__(self, name):
        raise AssertionError(f"prepare() touched features.test ({name})")

    def __len__(self):
        raise AssertionError("prepare() touched features.test (len)")


def make_splits(validation_seed: int = 2, train_seed: int = 1, with_emotion: bool = True) -> FeatureSplits:
    return FeatureSplits(train=make_table(24, train_seed, with_emotion), validation=make_table(8, validation_seed),
                         test=ExplodingTable(), dims=DIMS)  # type: ignore[arg-type]


def build(variant: str = "pmne", **overrides) -> NovEmoFakeModel:
    config = resolve_config("novemofake", variant, {**SMALL, **overrides})
    return NovEmoFakeModel(config, DIMS)


def context(tmp_path, seed: int = 0, logged: list | None = None) -> PrepareContext:
    return PrepareContext(device=torch.device("cpu"), seed=seed, cache_dir=tmp_path,
                          log_artifact=None if logged is None else logged.append)


@pytest.fixture
def counted(monkeypatch):
    calls = {"novelty": 0, "emotion": 0}
    real_novelty, real_emotion = novemofake_pretrain.pretrain_novelty, novemofake_pretrain.pretrain_emotion

    def novelty(*args, **kwargs):
        calls["novelty"] += 1
        return real_novelty(*args, **kwargs)

    def emotion(*args, **kwargs):
        calls["emotion"] += 1
        return real_emotion(*args, **kwargs)

    monkeypatch.setattr(novemofake_pretrain, "pretrain_novelty", novelty)
    monkeypatch.setattr(novemofake_pretrain, "pretrain_emotion", emotion)
    return calls


def test_paper_defaults():
    cfg = NovEmoFakeConfig()
    assert (cfg.batch_size, cfg.optimizer, cfg.lr, cfg.max_epochs) == (128, "adam", 0.01, 100)
    assert (cfg.use_novelty, cfg.use_emotion, cfg.encoder) == (True, True, "bert_resnet")
    assert (cfg.supcon_temperature, cfg.pretrain_batch_size, cfg.pretrain_optimizer) == (0.07, 512, "lars")
    assert novemofake_pretrain.PAPER_PRETRAIN_EPOCHS == 1000


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_prepares_and_trains_a_step(variant, tmp_path):
    torch.manual_seed(0)
    model = build(variant)
    splits = make_splits()
    model.prepare(splits, context(tmp_path))
    cfg = model.config
    batch = splits.train.batch(torch.arange(10), set(model.requires))
    out = model(batch)
    assert out.logits.shape == (10, 2)
    assert out.representation.shape == (10, cfg.detector_hidden[1])
    assert torch.isfinite(out.losses["total"]) and set(out.losses) == {"total", "ce"}
    out.losses["total"].backward()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(model.get_parameter(n).grad is not None for n in trainable)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    if cfg.use_novelty:
        assert any(n.startswith("novelty_head.") for n in frozen)
        assert model.fusion.weight.grad is not None  # Eq. 5 FN is trained with the detector
    if cfg.use_emotion:
        assert any(n.startswith("emotion.") for n in frozen)
    if cfg.encoder == "visualbert" and not cfg.use_novelty:  # PM/PME: the encoder learns with the detector
        assert model.encoder.text_proj.weight.grad is not None
    opt = model.configure_optimizers()[0]
    opt.step()
    # the engine drops labels when predicting
    model.eval()
    with torch.no_grad():
        assert model({k: v for k, v in batch.items() if k != "label"}).losses == {}


def test_requires_follows_the_switches():
    both = {"text_pooled", "image_pooled", "source_text_pooled", "source_image_pooled"}
    assert build("pm").requires == both and build("pme").requires == both
    assert build("pm_target_only").requires == {"text_pooled", "image_pooled"}
    assert build("pme_target_only").requires == {"text_pooled", "image_pooled"}
    assert build("pmn").requires == {"text_pooled", "image_pooled", "source_text_pooled",
                                     "source_image_pooled", "has_source"}
    assert build("pmne_visualbert").requires == {
        "text_tokens", "text_mask", "image_regions", "source_text_tokens", "source_text_mask",
        "source_image_regions", "has_source", "image_pooled"}


def test_prepare_caches_and_reuses_artifacts(tmp_path, counted):
    splits = make_splits()
    logged: list = []
    first = build("pmne")
    first.prepare(splits, context(tmp_path, logged=logged))
    assert counted == {"novelty": 1, "emotion": 1}
    assert len(logged) == 2 and all(p.exists() for p in logged)

    second = build("pmne")
    second.prepare(splits, context(tmp_path))
    assert counted == {"novelty": 1, "emotion": 1}  # loaded, not re-trained
    for name in ("novelty_head.project_1.weight", "emotion.fc1.weight", "pca_components", "pca_mean"):
        assert torch.equal(first.state_dict()[name], second.state_dict()[name])

    # PMN shares the novelty artifact, PME the emotion artifact; the detector lr does not matter
    build("pmn", lr=0.5).prepare(splits, context(tmp_path))
    build("pme").prepare(splits, context(tmp_path))
    assert counted == {"novelty": 1, "emotion": 1}

    # another cell seed reuses them (pre-training has its own fixed seed, shared by the suite's seeds)
    build("pmne").prepare(splits, context(tmp_path, seed=1))
    assert counted == {"novelty": 1, "emotion": 1}
    # another pre-training seed, other training data or another pre-training setting: re-trained
    build("pmne", pretrain_seed=1).prepare(splits, context(tmp_path))
    assert counted == {"novelty": 2, "emotion": 2}
    build("pmne", pretrain_seed=None).prepare(splits, context(tmp_path, seed=7))  # per-cell seed
    assert counted == {"novelty": 3, "emotion": 3}
    build("pmne").prepare(make_splits(train_seed=5), context(tmp_path))
    assert counted == {"novelty": 4, "emotion": 4}
    build("pmne", supcon_temperature=0.5).prepare(splits, context(tmp_path))
    assert counted == {"novelty": 5, "emotion": 4}


def test_pretraining_is_deterministic_per_seed(tmp_path):
    a, b = build("pmne"), build("pmne")
    a.prepare(make_splits(), context(tmp_path / "a"))
    b.prepare(make_splits(), context(tmp_path / "b"))
    for name in ("novelty_head.project_2.weight", "emotion.classifier.weight", "pca_components"):
        assert torch.equal(a.state_dict()[name], b.state_dict()[name])


def test_pca_is_fitted_on_train_only(tmp_path):
    a, b = build("pme"), build("pme")
    a.prepare(make_splits(validation_seed=2), context(tmp_path / "a"))
    b.prepare(make_splits(validation_seed=9), context(tmp_path / "b"))  # other validation data
    assert torch.equal(a.pca_components, b.pca_components) and torch.equal(a.pca_mean, b.pca_mean)
    # the fitted mean is the mean of FE1 = [IR2, scaffold] over every training item
    train_images = make_splits().train.get("image_pooled")
    with torch.no_grad():
        fe1 = emotion_representation(*a.emotion(train_images), a.config.scaffold_dim)
    assert fe1.shape[1] == EMOTION_HIDDEN[1] + a.config.scaffold_dim
    assert torch.allclose(a.pca_mean, fe1.mean(dim=0), atol=1e-5)
    # and the model's FE of a training row is that row's hand projection on the fitted axes
    with torch.no_grad():
        fe = a.emotion_features(train_images[:1])
    assert torch.allclose(fe, (fe1[:1] - a.pca_mean) @ a.pca_components.T, atol=1e-5)


def test_pm_reads_target_and_source_and_the_target_only_reading_does_not():
    """PM: the detector's input is [target representation, source representation] (layer-normed concat)."""
    batch = make_table(4, 7).batch(torch.arange(4), build("pm").requires)
    for variant, width in (("pm", 2), ("pm_target_only", 1)):
        model = build(variant)
        seen = []
        model.fnd1.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
        model(batch)
        parts = [torch.cat([batch[p + "text_pooled"], batch[p + "image_pooled"]], dim=-1)
                 for p in ("", "source_")][:width]
        expected = torch.cat([torch.nn.functional.layer_norm(x, (x.shape[-1],)) for x in parts], dim=-1)
        assert torch.allclose(seen[0], expected, atol=1e-6)
    with pytest.raises(ValueError, match="use_background"):
        build("pmn", use_background=False)


def test_emotion_needs_labels_or_an_emotion_set(tmp_path):
    from benchmark.emotion_set import EmotionSetUnavailable
    model = build("pme")
    with pytest.raises(EmotionSetUnavailable, match=r"^not available: no emotion image set \(looked for .*emotion' labels"):
        model.prepare(make_splits(with_emotion=False), context(tmp_path))
    # a provider that finds nothing: its folders are named in the message
    def provider(explicit):
        raise EmotionSetUnavailable(["/data/unbiasedemo", "/data/artphoto"])
    ctx = dataclasses.replace(context(tmp_path), emotion_set=provider)
    with pytest.raises(EmotionSetUnavailable, match="/data/unbiasedemo, /data/artphoto"):
        build("pme").prepare(make_splits(with_emotion=False), ctx)
    # the set from the provider is used in preference to the items' emotion labels
    g0 = torch.Generator().manual_seed(4)
    given = (torch.randn(10, DIMS.image_dim, generator=g0), torch.tensor([0, 1] * 5))
    asked = []
    ctx = dataclasses.replace(context(tmp_path / "p"), emotion_set=lambda explicit: asked.append(explicit) or given)
    build("pme", emotion_image_dir="/x/emo").prepare(make_splits(), ctx)
    assert asked == ["/x/emo"]
    # an external emotion image set (e.g. featurised UnbiasedEmo + ArtPhoto) replaces the labels
    g = torch.Generator().manual_seed(3)
    model.set_emotion_pretraining_data(torch.randn(12, DIMS.image_dim, generator=g), torch.tensor([0, 1] * 6))
    model.prepare(make_splits(with_emotion=False), context(tmp_path))
    assert bool(model.prepared)


def test_forward_before_prepare_warns_and_missing_source_reads_as_zeros():
    model = build("pmn")
    batch = make_table(4, 7).batch(torch.arange(4), {"text_pooled", "image_pooled"})  # no source keys
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model(batch)
    assert any("prepare()" in str(w.message) for w in caught)
    zeros = dict(batch, source_text_pooled=torch.zeros(4, DIMS.text_dim),
                 source_image_pooled=torch.zeros(4, DIMS.image_dim))
    assert torch.allclose(out.logits, model(zeros).logits)


def test_unknown_settings_fail_clearly():
    with pytest.raises(ValueError, match="encoder"):
        NovEmoFakeModel(dataclasses.replace(NovEmoFakeConfig(), encoder="clip"), DIMS)
    with pytest.raises(ValueError, match="pretrain_optimizer"):
        NovEmoFakeModel(dataclasses.replace(NovEmoFakeConfig(), pretrain_optimizer="sgd"), DIMS)


def test_search_space_covers_table3_axes():
    class Trial:
        def suggest_categorical(self, name, choices):
            return choices[0]

    assert set(NovEmoFakeModel.search_space(Trial())) == {"max_epochs", "batch_size", "optimizer", "lr"}


def test_parameter_count_with_paper_dims():
    # BERT 768 + ResNet18 512 -> novelty head 1280*512+512 + 512*128+128 = 721,536; fusion 1536*512+512 =
    # 786,944; emotion 512*1024+1024 + 1024*512+512 + 512*2+2 = 1,051,138; detector 640*512+512 +
    # 512*128+128 + 128*2+2 = 394,114: 2,953,732 in all (frozen encoders BERT/ResNet18 not counted)
    dims = FeatureDims(text_dim=768, image_dim=512, text_len=32, image_regions=49, has_source=True)
    model = NovEmoFakeModel(NovEmoFakeConfig(), dims)
    assert sum(p.numel() for p in model.parameters()) == 2_953_732
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 786_944 + 394_114
