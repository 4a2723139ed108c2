"""Each baseline's distinctive part against a hand computation: EANN's gradient reversal and event
loss, MVAE's KL, SAFE's similarity mapping and loss, KMGCN's normalised adjacency and graph,
the background switch's input widths, VisualBERT loading a local pretrained folder."""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import ablations.baselines  # noqa: E402,F401
import baselines  # noqa: E402,F401
from baselines.common import TextCNN, grad_reverse  # noqa: E402
from baselines.eann import event_loss  # noqa: E402
from baselines.kmgcn import normalized_adjacency, similarity_graph  # noqa: E402
from baselines.mvae import kl_standard_normal  # noqa: E402
from baselines.safe import similarity_loss, similarity_score  # noqa: E402
from baselines.synthetic import random_batch  # noqa: E402
from benchmark.features import FeatureDims  # noqa: E402
from benchmark.variants import build_model, resolve_config  # noqa: E402

SMALL = FeatureDims(text_dim=24, image_dim=20, text_len=6, image_regions=4, has_source=True,
                    num_events=3)


# ---------------------------------------------------------------- EANN
@pytest.mark.parametrize("lambd", [1.0, 0.25, 3.0])
def test_gradient_reversal_flips_and_scales_exactly(lambd: float) -> None:
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = torch.tensor([0.5, 4.0, -1.5])
    y = grad_reverse(x, lambd)
    assert torch.equal(y, x.detach())  # identity forward
    (y * w).sum().backward()
    assert torch.equal(x.grad, -lambd * w)


def test_eann_event_gradient_reaches_features_reversed() -> None:
    """The discriminator descends the event loss while the features receive its negated gradient."""
    torch.manual_seed(0)
    model = build_model("eann", resolve_config("eann", overrides={"dropout": 0.0}), SMALL)
    batch = random_batch(SMALL, 6)
    feats = model._side(batch, "")
    feats.retain_grad()
    event_logits = model.discriminator(grad_reverse(feats, 1.0))
    event_loss(event_logits, batch["event"]).backward()
    reversed_grad = feats.grad.clone()
    feats2 = model._side(batch, "").detach().requires_grad_(True)
    event_loss(model.discriminator(feats2), batch["event"]).backward()
    assert torch.allclose(reversed_grad, -feats2.grad)


def test_event_loss_ignores_unknown_events() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 5.0]])
    events = torch.tensor([0, -1, 2, 7])  # -1 unknown, 7 outside the discriminator's range
    expected = F.cross_entropy(logits[[0, 2]], torch.tensor([0, 2]))
    assert torch.allclose(event_loss(logits, events), expected)
    none = event_loss(logits, torch.full((4,), -1))
    assert float(none) == 0.0


def test_eann_event_branch_disabled_without_events() -> None:
    dims = FeatureDims(text_dim=24, image_dim=20, text_len=6, image_regions=4, num_events=0)
    model = build_model("eann", resolve_config("eann"), dims)
    out = model(random_batch(dims, 4))
    assert model.discriminator is None and not model.event_enabled
    assert set(out.losses) == {"total", "classification"}
    assert torch.equal(out.losses["total"], out.losses["classification"])


def test_eann_paper_defaults() -> None:
    c = resolve_config("eann")
    assert (c.filters, tuple(c.windows), c.hidden_dim, c.reversal_lambda) == (20, (1, 2, 3, 4), 32, 1.0)
    # the released forward applies no dropout: training and evaluation give the same logits
    torch.manual_seed(0)
    model = build_model("eann", c, SMALL)
    batch = random_batch(SMALL, 4)
    train_logits = model.train()(batch).logits
    assert torch.allclose(train_logits, model.eval()(batch).logits)


# ---------------------------------------------------------------- text CNN masking
def test_text_cnn_ignores_padding() -> None:
    torch.manual_seed(0)
    cnn = TextCNN(8, (1, 2, 3), 5)
    tokens = torch.randn(2, 7, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    noisy = tokens.clone()
    noisy[0, 3:] = 100.0  # garbage behind the padding mask
    assert torch.allclose(cnn(tokens, mask), cnn(noisy, mask))
    assert cnn(tokens, mask).shape == (2, 15)


# ---------------------------------------------------------------- MVAE
def test_kl_matches_hand_computation() -> None:
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # item 1: 0.5 * [(1 + 1 - 1 - 0) + (2 + 0 - 1 - ln 2)] = 1 - ln(2)/2 ; item 2: 0
    expected = (1.0 - math.log(2.0) / 2.0 + 0.0) / 2.0
    assert kl_standard_normal(mu, logvar).item() == pytest.approx(expected, abs=1e-6)


def test_mvae_reconstruction_is_summed_over_dimensions() -> None:
    from baselines.mvae import sum_squared_error
    pred = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    target = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    # item 1: 0 + 4 + 9 = 13 ; item 2: 1 + 1 + 1 = 3 ; batch mean 8 (a per-dimension mean would be 8/3)
    assert sum_squared_error(pred, target).item() == pytest.approx(8.0)
    torch.manual_seed(0)
    model = build_model("mvae", resolve_config("mvae"), SMALL).eval()
    batch = random_batch(SMALL, 4)
    losses = model(batch)
    with torch.no_grad():
        joint = torch.cat([model.encode_text(batch["text_tokens"], batch["text_mask"]),
                           model.image_enc(batch["image_pooled"])], dim=1)
        z = model.to_mu(joint)
        expected = (model.image_dec(z) - batch["image_pooled"]).pow(2).sum(dim=1).mean()
    assert losses.losses["image_reconstruction"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_mvae_total_is_weighted_sum_of_components() -> None:
    torch.manual_seed(0)
    config = resolve_config("mvae", overrides={"kl_weight": 0.5, "text_recon_weight": 2.0})
    model = build_model("mvae", config, SMALL).eval()
    losses = model(random_batch(SMALL, 4)).losses
    expected = (losses["classification"] + 2.0 * losses["text_reconstruction"]
                + losses["image_reconstruction"] + 0.5 * losses["kl"])
    assert torch.allclose(losses["total"], expected)


def test_mvae_samples_in_training_and_uses_mean_in_eval() -> None:
    torch.manual_seed(0)
    model = build_model("mvae", resolve_config("mvae"), SMALL)
    batch = random_batch(SMALL, 4)
    model.eval()
    assert torch.equal(model(batch).logits, model(batch).logits)
    model.train()
    assert not torch.equal(model(batch).logits, model(batch).logits)


# ---------------------------------------------------------------- SAFE
def test_safe_similarity_maps_cosine_to_unit_interval() -> None:
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [3.0, 3.0]])
    v = torch.tensor([[2.0, 0.0], [-1.0, 0.0], [0.0, 5.0], [1.0, 0.0]])
    expected = torch.tensor([1.0, 0.0, 0.5, (1.0 + 1.0 / math.sqrt(2.0)) / 2.0])
    assert torch.allclose(similarity_score(t, v), expected, atol=1e-6)


def test_safe_similarity_loss_by_hand() -> None:
    s = torch.tensor([0.8, 0.3, 0.6])
    y = torch.tensor([0, 1, 1])  # real, fake, fake
    # real: -log s ; fake: -log(1 - s)
    expected = -(math.log(0.8) + math.log(0.7) + math.log(0.4)) / 3.0
    assert similarity_loss(s, y).item() == pytest.approx(expected, rel=1e-6)


def test_safe_similarity_loss_pushes_real_up_and_fake_down() -> None:
    s = torch.tensor([0.5, 0.5], requires_grad=True)
    similarity_loss(s, torch.tensor([0, 1])).backward()
    assert s.grad[0] < 0 < s.grad[1]  # descending raises s for real, lowers it for fake


def test_safe_total_uses_paper_weights() -> None:
    torch.manual_seed(0)
    model = build_model("safe", resolve_config("safe"), SMALL).eval()
    losses = model(random_batch(SMALL, 4)).losses
    assert torch.allclose(losses["total"], 0.6 * losses["classification"] + 0.4 * losses["similarity"])


# ---------------------------------------------------------------- KMGCN
def test_normalized_adjacency_by_hand() -> None:
    a = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])
    r6 = 1.0 / math.sqrt(6.0)
    expected = torch.tensor([[[0.5, r6, 0.0], [r6, 1.0 / 3.0, r6], [0.0, r6, 0.5]]])
    assert torch.allclose(normalized_adjacency(a), expected, atol=1e-6)


def test_normalized_adjacency_weighted() -> None:
    a = torch.tensor([[[0.0, 0.5], [0.5, 0.0]]])
    # A + I = [[1, .5], [.5, 1]], degrees 1.5 -> entries divided by 1.5
    assert torch.allclose(normalized_adjacency(a), torch.tensor([[[1.0, 0.5], [0.5, 1.0]]]) / 1.5)


def test_similarity_graph_threshold_topk_and_padding() -> None:
    nodes = torch.tensor([[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [1.0, 0.0]]])
    mask = torch.tensor([[True, True, True, False]])  # node 3 is padding
    adj = similarity_graph(nodes, mask, threshold=0.9, top_k=0)
    cos01 = 0.9 / math.sqrt(0.82)
    assert adj[0, 0, 1] == pytest.approx(cos01, rel=1e-5) and adj[0, 1, 0] == adj[0, 0, 1]
    assert adj[0, 0, 2] == 0 and adj[0, 1, 2] == 0  # below threshold
    assert adj[0, 3].abs().sum() == 0 and adj[0, :, 3].abs().sum() == 0  # padding isolated
    assert torch.all(torch.diagonal(adj[0]) == 0)
    # top-1 adds node 2's nearest neighbour (node 1, cos 0.1/sqrt(0.82)), symmetrised
    adj_k = similarity_graph(nodes, mask, threshold=0.9, top_k=1)
    assert adj_k[0, 2, 1] == pytest.approx(0.1 / math.sqrt(0.82), rel=1e-5)
    assert adj_k[0, 1, 2] == adj_k[0, 2, 1] and adj_k[0, 3].abs().sum() == 0


def test_kmgcn_nodes_are_words_concepts_objects() -> None:
    model = build_model("kmgcn", resolve_config("kmgcn", overrides={"num_concepts": 5}), SMALL)
    batch = random_batch(SMALL, 2)
    batch["has_image"] = torch.tensor([True, False])
    nodes, mask = model.build_nodes(batch, "")
    assert nodes.shape[1] == SMALL.text_len + 5 + SMALL.image_regions
    assert torch.equal(mask[:, : SMALL.text_len], batch["text_mask"])
    assert mask[:, SMALL.text_len: SMALL.text_len + 5].all()
    assert mask[0, -SMALL.image_regions:].all() and not mask[1, -SMALL.image_regions:].any()


# ---------------------------------------------------------------- background switch widths
@pytest.mark.parametrize("name,width", [
    ("text_only", lambda d: d.text_dim),
    ("image_only", lambda d: d.image_dim),
    ("bert_resnet", lambda d: d.text_dim + d.image_dim),
])
def test_background_doubles_mlp_input_width(name: str, width) -> None:
    dims = FeatureDims(text_dim=384, image_dim=1280, text_len=16, image_regions=49, has_source=True)
    plain = build_model(name, resolve_config(name, "default"), dims)
    wbg = build_model(name, resolve_config(name, "wbg"), dims)
    assert plain.head.body[0].in_features == width(dims)
    assert wbg.head.body[0].in_features == 2 * width(dims)
    assert plain.head.body[0].out_features == 512 and plain.head.hidden_dim == 128


def test_background_widens_eann_safe_kmgcn() -> None:
    assert build_model("eann", resolve_config("eann", "wbg"), SMALL).classifier.in_features == 128
    assert build_model("eann", resolve_config("eann"), SMALL).classifier.in_features == 64
    assert build_model("safe", resolve_config("safe", "wbg"), SMALL).classifier.in_features == 96
    assert build_model("safe", resolve_config("safe"), SMALL).classifier.in_features == 64
    k_wbg = build_model("kmgcn", resolve_config("kmgcn", "wbg"), SMALL)
    assert k_wbg.head.body[0].in_features == 2 * 128


def test_visualbert_background_appends_source_sequence() -> None:
    model = build_model("visualbert", resolve_config("visualbert", "wbg"), SMALL)
    batch = random_batch(SMALL, 2, with_source=True)
    batch["text_mask"][:] = True  # full-length texts: no trailing slot is trimmed
    batch["source_text_mask"][:] = True
    text, text_mask, visual, visual_mask = model._inputs(batch)
    assert text.shape[1] == 1 + 2 * SMALL.text_len and text_mask.shape == text.shape[:2]
    assert visual.shape[1] == 2 * SMALL.image_regions and visual_mask.shape == visual.shape[:2]
    plain = build_model("visualbert", resolve_config("visualbert"), SMALL)
    batch = random_batch(SMALL, 2)
    batch["text_mask"][0] = True
    text, _, visual, _ = plain._inputs(batch)
    assert text.shape[1] == 1 + SMALL.text_len and visual.shape[1] == SMALL.image_regions


# ---------------------------------------------------------------- VisualBERT weights
def test_visualbert_loads_local_pretrained_folder(tmp_path) -> None:
    from transformers import VisualBertConfig, VisualBertModel

    torch.manual_seed(0)
    saved = VisualBertModel(VisualBertConfig(hidden_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=64,
                                             visual_embedding_dim=16, vocab_size=10))
    saved.save_pretrained(tmp_path)
    config = resolve_config("visualbert", overrides={"pretrained_path": str(tmp_path)})
    model = build_model("visualbert", config, SMALL).eval()
    assert model.encoder.config.hidden_size == 32
    for (name, p), (_, q) in zip(saved.state_dict().items(), model.encoder.state_dict().items()):
        assert torch.equal(p, q), name
    assert model.text_proj.out_features == 32
    assert model.region_adapter.out_features == 16  # image_dim 20 -> visual_embedding_dim 16
    out = model(random_batch(SMALL, 2))
    assert out.logits.shape == (2, 2) and torch.isfinite(out.losses["total"])


def test_visualbert_default_is_small_and_from_scratch() -> None:
    c = resolve_config("visualbert")
    assert c.pretrained_path is None and (c.hidden_size, c.num_layers, c.num_heads) == (256, 2, 4)
    model = build_model("visualbert", c, SMALL)
    assert model.encoder.config.visual_embedding_dim == SMALL.image_dim


# ---------------------------------------------------------------- CAFE
def test_diag_gaussian_kl_by_hand_and_against_torch() -> None:
    from baselines.cafe import diag_gaussian_kl, symmetric_ambiguity
    from torch.distributions import Independent, Normal, kl_divergence

    mu_p, s_p = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 2.0]])
    mu_q, s_q = torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 1.0]])
    # dim 1: log(1/1) + (1 + 1)/2 - 1/2 = 0.5 ; dim 2: log(1/2) + 4/2 - 1/2 = 1.5 - ln 2
    expected = 0.5 + 1.5 - math.log(2.0)
    assert diag_gaussian_kl(mu_p, s_p, mu_q, s_q).item() == pytest.approx(expected, rel=1e-6)
    ref = kl_divergence(Independent(Normal(mu_q, s_q), 1), Independent(Normal(mu_p, s_p), 1))
    assert torch.allclose(diag_gaussian_kl(mu_q, s_q, mu_p, s_p), ref)
    skl = (expected + ref.item()) / 2
    assert symmetric_ambiguity(mu_p, s_p, mu_q, s_q).item() == pytest.approx(1 / (1 + math.exp(-skl)))
    same = symmetric_ambiguity(mu_p, s_p, mu_p, s_p)
    assert same.item() == pytest.approx(0.5)  # identical distributions: KL 0 -> sigmoid 0.5


def test_cafe_alignment_loss_uses_real_pairs_only() -> None:
    model = build_model("cafe", resolve_config("cafe"), SMALL)
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-5.0, 5.0]])
    labels = torch.tensor([0, 0, 1])  # the fake pair (index 2) is left out
    # matched: cos 1, 1 -> loss 0 each; mismatched (roll by 1): t0 vs v1, t1 vs v0: cos 0 -> loss 0
    assert model.alignment_loss(t, v, labels).item() == pytest.approx(0.0, abs=1e-6)
    v_bad = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    # matched cos 0 -> 1 - 0 = 1 each; mismatched t0 vs v_bad1 = cos 1 -> max(0, 1) = 1 each
    assert model.alignment_loss(t, v_bad, labels).item() == pytest.approx(1.0, abs=1e-6)
    assert model.alignment_loss(t, v, torch.tensor([1, 1, 0])).item() == 0.0  # < 2 real pairs


def test_cafe_correlation_scaled_softmax_pooled_over_the_last_axis() -> None:
    from baselines.cafe import correlation_matrix_pool
    t, v = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]])
    s = 1 / math.sqrt(2)
    rows = [[1 * 3 * s, 1 * -1 * s], [2 * 3 * s, 2 * -1 * s]]  # t_i v_j / sqrt(d)
    expected = [max(math.exp(x) / sum(math.exp(y) for y in row) for x in row) for row in rows]
    assert torch.allclose(correlation_matrix_pool(t, v), torch.tensor([expected]), atol=1e-6)
    # pooling over dim=1 (the old reading) gives other numbers here
    cols = [max(math.exp(rows[i][j]) / sum(math.exp(y) for y in rows[i]) for i in range(2)) for j in range(2)]
    assert not torch.allclose(correlation_matrix_pool(t, v), torch.tensor([cols]), atol=1e-3)


def test_cafe_alignment_and_detection_modules_are_separate() -> None:
    torch.manual_seed(0)
    model = build_model("cafe", resolve_config("cafe", overrides={"dropout": 0.0}), SMALL)
    batch = random_batch(SMALL, 8)
    batch["label"] = torch.tensor([0, 1] * 4)
    assert model.align_encoding is not model.detect_encoding
    detection = [model.detect_encoding, model.text_gauss, model.text_uni, model.correlation_fc,
                 model.classifier_body]
    alignment = [model.align_encoding, model.text_aligner, model.image_aligner]

    def touched(modules):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for m in modules for p in m.parameters())

    model(batch).losses["classification"].backward()
    assert touched(detection) and not touched(alignment)
    model.zero_grad(set_to_none=True)
    model(batch).losses["alignment"].backward()
    assert touched(alignment) and not touched(detection)
    c = resolve_config("cafe")
    assert (c.max_epochs, c.batch_size, c.lr, c.mismatch_shift) == (100, 64, 1e-3, 3)


# ---------------------------------------------------------------- MCAN
def test_mcan_stacks_co_attention_layers_and_ignores_padding() -> None:
    torch.manual_seed(0)
    config = resolve_config("mcan", overrides={"model_dim": 16, "num_heads": 2, "ffn_dim": 32,
                                               "num_layers": 3, "dropout": 0.0})
    model = build_model("mcan", config, SMALL).eval()
    assert len(model.layers) == 3
    batch = random_batch(SMALL, 2)
    batch["text_mask"] = torch.tensor([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    noisy = dict(batch)
    noisy["text_tokens"] = batch["text_tokens"].clone()
    noisy["text_tokens"][0, 2:] = 50.0
    with torch.no_grad():
        assert torch.allclose(model(batch).logits, model(noisy).logits, atol=1e-5)
        changed = dict(batch)
        changed["text_tokens"] = batch["text_tokens"].clone()
        changed["text_tokens"][0, 0] += 3.0
        assert not torch.allclose(model(batch).logits, model(changed).logits, atol=1e-5)
