"""COOLANT (Wang et al., ACM MM 2023): cross-modal contrastive learning for multimodal fake news.

Built as the paper's section 3 describes, over frozen encoder features (see ``benchmark.features``);
every equation is a pure function in ``benchmark.models.coolant_losses``. The paper's ablations and
the public code's behaviour are config switches (``CoolantConfig``), named in ``ablations.coolant``.

Data flow (d = ``aligned_dim`` = L, the attention module's feature length):
  regions (B,R,Dv) --FC+ReLU, mean over R--> e^v (B,H);  tokens (B,L,Dt) --FC+ReLU, masked mean--> e^t
  consistency (3.2.1): modality MLPs e -> e_s (B,shared_dim); Eq. 1 on the per-batch pair set D'
  contrastive (3.2.2): modality MLPs e -> m (B,d); Eq. 2-4 on L2-normalised m with learnable 1/tau;
     soft targets Eq. 5 from e_s (detached), Eq. 6-7.  Without ITC, m = e_s (the paper's "use the
     consistency learning task to learn the aligned unimodal representations").
  fusion (3.3): Eq. 8-10 -> m^f flattened (B, d*d) -> Linear -> (B, d) so that m^v, m^t, m^f are
     the three L x 1 features the attention module stacks.  Without CMF: Linear([m^v; m^t]) -> (B, d).
  attention (3.4.1): squeeze = mean over L of the (3, L) stack -> (B,3); excitation FC-ReLU-FC ->
     sigmoid gates s; a = s / sum(s) (a distribution, needed for the KL of Eq. 14).
  guidance (3.4.2): per modality an encoder m -> (mu, log var) of q(z|m) (K = ``z_dim``); Eq. 11-13
     -> g; target [1-g, 1-g, g] / (2-g); L_AG = KL(a || g) (Eq. 14) with g detached: L_AG trains
     the attention only. Eq. 19 has no term for the ambiguity encoders (no reconstruction either),
     so in the paper reading they stay at their initialisation and g is a fixed function of the
     trained m^v, m^t; the released code trains them through the attached KL target
     (``detach_ambiguity_target=False``, part of ``as_released``).
  classifier (3.4.3): x~ = a_v m^v (+) a_t m^t (+) a_f m^f (B, 3d) = representation; MLP -> 2 logits.
  total (Eq. 19): L = L_ITM + L_ITC + lambda L_SEM + L_CLS + gamma L_AG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.deviations import Deviation
from benchmark.features import FeatureDims
from benchmark.models import coolant_losses as eq
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput, make_optimizer
from benchmark.models.layers import CAFEEncoding, SEResNet1d, correlation_matrix_pool, mlp2, per_image
from benchmark.registry import MODELS

DEVIATIONS = (
    Deviation("encoders", "BERT text encoder, ResNet image encoder (section 3.1)",
              "frozen cached token / region features (offline MiniLM + EfficientNet-Lite0 unless a paper "
              "encoder is chosen), an FC+ReLU and (masked) mean pooling on top",
              "Twitter: CAFE's precomputed 200-d word vectors and 512-d image vectors"),
    Deviation("unstated sizes", "not given", "hidden 256, consistency / aligned 64, latent 2, classifier 64, "
              "dropout 0.2: the released Twitter code's sizes where it has them",
              "64-d aligned and consistency spaces, 2-d latent, 64-d classifier"),
    Deviation("consistency pairs D' (Eq. 1)", "y' = 1 iff text and image are from the same real news",
              "per batch: every own pair (+1 real, -1 fake) and each text with the image rolled by one "
              "position (-1); rolled pairs showing the same image are dropped",
              "real news only, images rolled by 3, no same-image check"),
    Deviation("ITC negatives that share an image (Eq. 3-4)",
              "one-hot targets: every other pair in the batch is a negative",
              "kept as negatives by default (itc_shared_image_negatives='keep', paper and code); 'mask' "
              "removes same-image pairs from both softmaxes, as ITM already drops them (MediaEval 2016, one seed, "
              "5 epochs: test accuracy 0.696 keep vs 0.583 mask)", ""),
    Deviation("temperature (Eq. 2)", "learnable tau", "learnable 1/tau, initialised 1/0.07, clamped to [1, 100]",
              "constant exp(0.07) ~ 1.07"),
    Deviation("soft targets (Eq. 5)", "gradient flow not stated",
              "detached: L_SEM never trains the consistency module",
              "same effect through separate optimiser steps; raw (unnormalised) dot products"),
    Deviation("fusion output (Eq. 8-10)", "m^f is an L x 1 feature",
              "the flattened d x d outer product is projected by a Linear layer to d",
              "outer product, softmax, max-pool to 64, FC"),
    Deviation("attention (3.4.1)", "SE-Net: squeeze, excitation, sigmoid gates",
              "one bias-free FC(3->16)-ReLU-FC(16->3) excitation (SE-Net Eq. 3 has no bias; the width is "
              "unstated and C/r < 1 for C = 3: 16 so that no seed starts with every unit dead) over the "
              "squeezed (B, 3); the sigmoid gates are normalised to a distribution a = s / sum(s) so that "
              "Eq. 14's KL is defined",
              "a 19-block 1-D SE-ResNet returning log-softmax weights that multiply the features"),
    Deviation("finding: unguided attention (3.4.1)", "the SE attention weights each modality adaptively",
              "the squeeze (a mean over L = 64) shrinks item differences by about sqrt(L), and a 3-channel gate "
              "has a gain below 1: without Eq. 14's per-item target the attention stays nearly constant "
              "(real MediaEval, w/o AGU: across-item std 0.003-0.028 vs 0.07-0.30 with AGU). Kept as the paper; "
              "the free_attention variants drop the squeeze so the ablations can be read both ways", ""),
    Deviation("mixture KL (Eq. 11-12)", "KL between the batch mixtures q(z^v), q(z^t)",
              "each mixture replaced by the Gaussian with its mean and variance (the mixture KL has no "
              "closed form)", "no denominator at all"),
    Deviation("per-item KL (Eq. 12)", "D_KL of the two Gaussians", "closed form",
              "one-sample Monte-Carlo estimate (can be negative, so g < 0.5 occurs)"),
    Deviation("range of g (Eq. 13)", "sigmoid of a non-negative ratio, so g lies in [0.5, 1)",
              "same (a property of Eq. 13): the target [1-g, 1-g, g] never gives the fusion feature less "
              "than a third", ""),
    Deviation("KL target (Eq. 14)", "[1-g, 1-g, g], the reference of D_KL(a || g)",
              "renormalised by 2-g to a distribution and detached: L_AG trains the attention, not g "
              "(attached, g collapsed to sigmoid(1) for every item)",
              "unnormalised, attached, KLDivLoss = D_KL(g || a)"),
    Deviation("ambiguity encoders", "a VAE-based model learns the ambiguity; Eq. 19 has no term for it",
              "frozen at initialisation (no loss reaches them once g is detached): g is a fixed function of "
              "the trained m^v, m^t", "trained through the attached KL target only"),
    Deviation("optimisation (Eq. 19)", "one objective L = L_ITM + L_ITC + lambda L_SEM + L_CLS + gamma L_AG, Adam 1e-3",
              "as the paper: one Adam over Eq. 19",
              "three optimisers (Adam / AdamW wd 5e-4 / Adam), each loss trains only its module"),
    Deviation("detection module inputs", "the classifier reads the aligned m^v, m^t and m^f",
              "as the paper (the released module is the as_released variant's released_detection_module)",
              "its own label-trained text / image encoders and uni-modal MLPs feed the classifier; the "
              "aligned features only feed the fusion and ambiguity modules"),
    Deviation("model selection", "not stated", "clean protocol: validation split; test once",
              "best TEST epoch of 50 (the as-released protocol reproduces it)"),
)

LOSS_KEYS = ("total", "itm", "itc", "sem", "cls", "ag")
# per-epoch diagnostics (engine -> MLflow): ambiguity g and the attention distribution a = (v, t, f)
ATTENTION_NAMES = ("attention_w_image", "attention_w_text", "attention_w_fusion")


@dataclass
class CoolantConfig(ModelConfig):
    """Paper defaults (section 4.1.3) plus ablation and as-released switches.

    Sizes the paper does not state (hidden/shared/aligned dims, z_dim, dropout) follow the
    released Twitter code where it has one (64-d aligned and consistency spaces, 2-d latent).
    """

    lr: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 50
    optimizer: str = "adam"
    hidden_dim: int = 256  # unimodal embeddings e^v, e^t
    shared_dim: int = 64  # consistency space e_s
    aligned_dim: int = 64  # contrastive space m; also L, the length of m^v, m^t, m^f
    z_dim: int = 2  # latent size of the ambiguity VAE encoders
    classifier_hidden: int = 64
    dropout: float = 0.2  # not given in the paper
    lambda_sem: float = 0.2  # Eq. 7
    gamma: float = 0.5  # Eq. 18
    margin: float = 0.2  # d of Eq. 1
    tau_init: float = 0.07  # Eq. 2, learnable
    max_logit_scale: float = 100.0  # clamp of 1/tau, as CLIP
    itm_shift: int = 1  # negatives of D': images rolled by this many positions in the batch
    # paper components (ablations, section 4.3.1)
    use_itm: bool = True
    use_itc: bool = True
    use_sem: bool = True
    use_cmf: bool = True
    use_att: bool = True
    use_agu: bool = True
    # the SE attention (3.4.1): bias-free excitation as SE-Net Eq. 3; hidden width unstated (C / r < 1
    # for C = 3): 16, so that no seed starts with every unit dead (ModalityAttention says why); "none" =
    # no squeeze, the excitation reads the (3 L) features (variant free_attention)
    excitation_bias: bool = False
    attention_hidden: int = 16
    attention_squeeze: str = "mean"
    # behaviour of the public code (github wishever/COOLANT, twitter/)
    constant_logit_scale: bool = False  # logits * exp(0.07) (about 1.07) instead of learnable 1/tau
    soft_targets_raw_dot: bool = False  # Eq. 5 on raw (un-normalised) consistency embeddings
    log_softmax_attention: bool = False  # log-softmax weights multiply the features
    unnormalised_kl_target: bool = False  # [1-g, 1-g, g] not renormalised to sum 1
    code_kl_direction: bool = False  # KLDivLoss(log a, g) = KL(g || a) instead of KL(a || g)
    ambiguity_aggregate_ratio: bool = True  # Eq. 12 denominator; the code has none
    detach_ambiguity_target: bool = True  # Eq. 14's g is the reference; the code leaves it attached
    # ITC negatives that are the same image with another text (tweets share images): "keep" them as
    # Eq. 3-4 and the released code do, or "mask" them out of the softmaxes (ITM already drops them)
    itc_shared_image_negatives: str = "keep"
    real_only_consistency_pairs: bool = False  # D' from real news only, no fake-pair negatives
    # the released detection module: its own label-trained CAFE encoders and uni-modal MLPs, the
    # aligned features only for the correlation and the ambiguity, a 1-D SE-ResNet (19 blocks on
    # Twitter) whose log-softmax outputs weight [text, image, correlation]
    released_detection_module: bool = False
    released_se_blocks: int = 19
    released_prime_dim: int = 16
    released_consistency_module: bool = False  # own encoders (FastCNN + image MLP) and BN towers, ITM-trained
    normalise_detection_inputs: bool = False  # m^v, m^t L2-normalised before fusion/correlation and ambiguity
    softplus_std: bool = False  # ambiguity encoders: std = softplus(raw) + 1e-7 instead of a clamped log var
    sequential_steps: bool = False  # step the 3 optimisers one after the other, recomputing in between
    isolate_module_losses: bool = False  # each loss trains only its own module (code's 3 steps)
    three_optimizers: bool = False  # Adam / AdamW / Adam for consistency / contrastive / detection
    contrastive_weight_decay: float = 5e-4  # AdamW weight decay of the contrastive optimiser

    def validate(self) -> None:
        """Reject switch combinations that the paper's components cannot express."""
        if not (self.use_itm or self.use_itc):
            raise ValueError("COOLANT needs use_itm or use_itc: the aligned representations m^v, m^t "
                             "come from the contrastive module, or the consistency module without it")
        if self.use_sem and not (self.use_itm and self.use_itc):
            raise ValueError("use_sem needs use_itm and use_itc (soft targets come from the consistency "
                             "module and soften the contrastive loss); set use_sem=False")
        if self.attention_squeeze not in ("mean", "none"):
            raise ValueError(f"attention_squeeze must be 'mean' (paper) or 'none' (free_attention); "
                             f"got {self.attention_squeeze!r}")
        if self.itc_shared_image_negatives not in ("keep", "mask"):
            raise ValueError(f"itc_shared_image_negatives must be 'keep' or 'mask'; "
                             f"got {self.itc_shared_image_negatives!r}")
        if self.released_detection_module and not (self.use_att and self.use_cmf):
            raise ValueError("released_detection_module replaces the fusion and attention modules; it needs "
                             "use_att and use_cmf")
        if self.sequential_steps and not (self.three_optimizers and self.isolate_module_losses):
            raise ValueError("sequential_steps needs three_optimizers and isolate_module_losses (each step "
                             "trains one module on its own loss)")
        if self.released_consistency_module and not self.use_itm:
            raise ValueError("released_consistency_module replaces the consistency module; it needs use_itm")
        if self.use_agu and not self.use_att:
            raise ValueError("use_agu needs use_att (the guidance loss targets the attention weights); "
                             "set use_agu=False")


class UnimodalEncoder(nn.Module):
    """Section 3.1: an FC layer over regional / token features, then (masked) mean pooling."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU())
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                rows: torch.Tensor | None = None) -> torch.Tensor:
        """(B, S, Din) -> (B, out_dim), computed once per distinct ``rows`` id and on real tokens only.

        Exact rewrites of mean(ReLU(W x + b)): with ``rows`` (equal ids = identical inputs, e.g. tweets
        sharing an image) the layer runs once per distinct input and is gathered back; with ``mask``
        it runs on the real tokens only, summed per item by index. Padding and duplicates cost
        nothing; the result equals the dense computation up to float summation order.
        """
        if rows is not None:
            unique, inverse = torch.unique(rows, return_inverse=True)
            first = torch.full((unique.shape[0],), x.shape[0], dtype=torch.long, device=x.device)
            first = first.scatter_reduce(0, inverse, torch.arange(x.shape[0], device=x.device), reduce="amin")
            pooled = self._pool(x[first], None if mask is None else mask[first])[inverse]
        else:
            pooled = self._pool(x, mask)
        return self.dropout(pooled)

    def _pool(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            return self.fc(x).mean(dim=1)
        mask = mask.bool()
        real = self.fc(x[mask])  # (n_real_tokens, out_dim)
        owner = torch.arange(x.shape[0], device=x.device).unsqueeze(1).expand_as(mask)[mask]
        sums = real.new_zeros(x.shape[0], real.shape[-1]).index_add_(0, owner, real)
        return sums / mask.sum(dim=1, keepdim=True).clamp_min(1).to(real.dtype)


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class TwoTower(nn.Module):
    """A modality-specific MLP per modality (consistency and contrastive spaces)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.image = _mlp(in_dim, in_dim, out_dim)
        self.text = _mlp(in_dim, in_dim, out_dim)

    def forward(self, e_v: torch.Tensor, e_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(e_v), self.text(e_t)


class ModalityAttention(nn.Module):
    """Section 3.4.1: squeeze (mean over L) then SE excitation FC-ReLU-FC over the 3 modality channels.

    Why the unguided attention is nearly constant (issue 25; measured on real MediaEval: w/o AGU
    attention across-item std 0.003-0.028, full model 0.07-0.30):
      * paper-implied: the squeeze is a mean over the L = 64 positions, so item-to-item differences of
        the features reach the excitation shrunk by about sqrt(L) (measured squeeze std 0.004-0.05), and
        a 3 -> 3 -> 3 gate at its initial scale has a gain below 1 (sigmoid slope 1/4, a = s / sum(s)
        divides by about 1.5): at initialisation the attention's across-item std is ~1e-3 of the
        squeeze's, and only a target that differs per item (Eq. 14's g, i.e. AGU) or a large learned
        gain makes it vary. That is the paper's design; it is kept in the default and declared, and
        ``attention_squeeze="none"`` (variant ``free_attention``) lets the excitation read the features.
      * ours, fixed: the excitation had biases (torch's default U(+-1/sqrt(3)), i.e. +-0.58 against
        inputs that vary by 0.004-0.05), so a hidden unit with a negative bias was dead for every item
        (2 of 3 on the synthetic set) and, receiving no gradient, stayed dead; with all three dead the
        attention is exactly 1/3 for every item for good (a collapsed seed: 6 of 50 seeds at
        initialisation on the constructed case of tests/benchmark/models/test_coolant_attention_spread.py).
        SE-Net's excitation (Hu et al. 2018, Eq. 3: s = sigmoid(W2 ReLU(W1 z)), cited by the paper for
        "more details") has no bias and neither do the released SE blocks. Bias-free alone still leaves
        all 3 hidden units dead when the squeezed means sit off zero (4 of 50 seeds with means 0.3): the
        hidden width is ours too (SE-Net's C / r is below 1 for C = 3, so the paper fixes nothing), and
        16 units make a fully dead gate improbable (0 of 50). ``excitation_bias=True, attention_hidden=3``
        is the old layer.
    """

    def __init__(self, channels: int = 3, hidden: int = 3, bias: bool = False, squeeze: str = "mean",
                 length: int = 0) -> None:
        super().__init__()
        if squeeze not in ("mean", "none"):
            raise ValueError(f"attention_squeeze must be 'mean' (paper) or 'none' (free_attention); got {squeeze!r}")
        self.squeeze = squeeze
        width = channels if squeeze == "mean" else channels * length
        self.excitation = nn.Sequential(nn.Linear(width, hidden, bias=bias), nn.ReLU(),
                                        nn.Linear(hidden, channels, bias=bias))

    def forward(self, stacked: torch.Tensor, log_softmax: bool) -> tuple[torch.Tensor, torch.Tensor]:
        z = eq.modality_squeeze(stacked) if self.squeeze == "mean" else stacked.flatten(1)
        return eq.attention_weights(self.excitation(z), log_softmax)


class GaussianEncoder(nn.Module):
    """q(z|m) = N(mu(m), diag exp(log var(m))) (section 3.4.2)."""

    def __init__(self, in_dim: int, z_dim: int, softplus_std: bool = False) -> None:
        super().__init__()
        self.net = _mlp(in_dim, in_dim, 2 * z_dim)
        self.z_dim = z_dim
        self.softplus_std = softplus_std

    def forward(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log var). Ours: the second half is the log variance, clamped to [-10, 10]; released
        (``softplus_std``, twitter/mymodel.py 125-128): it is a std through softplus(.) + 1e-7."""
        out = self.net(m)
        mu, raw = out[:, :self.z_dim], out[:, self.z_dim:]
        if self.softplus_std:
            return mu, 2.0 * torch.log(F.softplus(raw) + 1e-7)
        return mu, raw.clamp(-10.0, 10.0)


class ReleasedConsistency(nn.Module):
    """The released ``SimilarityModule`` (twitter/mymodel.py 75-110) less its unused classifier: its own
    encoders over the raw features (FastCNN with per-branch batch norm, image MLP; as ``EncodingPart``)
    and aligner towers Linear-BN-ReLU-Linear-BN-ReLU to the 64-d consistency space, trained by ITM."""

    def __init__(self, dims: FeatureDims, out_dim: int) -> None:
        super().__init__()
        self.encoding = CAFEEncoding(dims.text_dim, dims.image_dim, 128, dropout=0.5, batch_norm=True,
                                     released_cnn=True)
        self.text_aligner = mlp2(128, 128, out_dim, batch_norm=True)
        self.image_aligner = mlp2(128, 128, out_dim, batch_norm=True)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(image, text) consistency embeddings per item, (B, out_dim) each."""
        text, image = self.encoding(batch["text_tokens"], batch["text_mask"], item_regions(batch).mean(dim=1))
        return self.image_aligner(image), self.text_aligner(text)


class ReleasedDetection(nn.Module):
    """The released Twitter ``DetectionModule`` (twitter/mymodel.py), less its ambiguity encoders.

    Own CAFE encoders over the raw features (image: the mean of the regions, the released input being
    one pooled vector), two uni-modal MLPs each (64-d for the SE-ResNet, 16-d for the classifier), the
    correlation of the aligned vectors (softmax, max-pool, FC), a 1-D SE-ResNet over the (B, 64, 3)
    stack returning log-softmax weights that multiply [text, image, correlation] in the released order
    (``mymodel.py`` 228-234: the SE-ResNet's kernel-3 convolutions run over these three positions, so
    the order is part of the model, not a relabelling), and a 96 -> 64 -> 64 -> 2 classifier with
    batch norm as released. The text CNN is the released FastCNN (per-branch batch norm, max over the
    zero padding too).
    """

    def __init__(self, dims: FeatureDims, aligned_dim: int, c: CoolantConfig) -> None:
        super().__init__()
        shared, prime = 128, c.released_prime_dim
        self.encoding = CAFEEncoding(dims.text_dim, dims.image_dim, shared, dropout=0.5, batch_norm=True,
                                     released_cnn=True)
        self.se_image = mlp2(shared, shared, aligned_dim, batch_norm=True)
        self.se_text = mlp2(shared, shared, aligned_dim, batch_norm=True)
        self.uni_image = mlp2(shared, shared, prime, batch_norm=True)
        self.uni_text = mlp2(shared, shared, prime, batch_norm=True)
        self.correlation_fc = nn.Sequential(nn.Linear(aligned_dim, aligned_dim), nn.BatchNorm1d(aligned_dim),
                                            nn.ReLU())
        self.senet = SEResNet1d(aligned_dim, 128, c.released_se_blocks, 3)
        width = 2 * prime + aligned_dim
        self.classifier = nn.Sequential(nn.Linear(width, 64), nn.BatchNorm1d(64), nn.ReLU(),
                                        nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, batch: dict[str, torch.Tensor], m_v: torch.Tensor, m_t: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, the classifier's input, log attention (B, 3) in the released order text, image, correlation)."""
        text, image = self.encoding(batch["text_tokens"], batch["text_mask"], item_regions(batch).mean(dim=1))
        correlation = self.correlation_fc(correlation_matrix_pool(m_t, m_v))
        log_a = self.senet(torch.stack([self.se_text(text), self.se_image(image), correlation], dim=-1))
        x = torch.cat([self.uni_text(text) * log_a[:, 0:1], self.uni_image(image) * log_a[:, 1:2],
                       correlation * log_a[:, 2:3]], dim=-1)
        return self.classifier(x), x, log_a


def item_regions(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, R, D) image regions per item, from ``image_regions`` or the batch's distinct images."""
    if "image_regions" in batch:
        return batch["image_regions"]
    return batch["image_regions_unique"][batch["image_row_inverse"]]


@MODELS.register("coolant")
class Coolant(DetectorModel):
    """COOLANT: consistency + contrastive alignment, fusion, SE attention with ambiguity guidance."""

    config_class: ClassVar[type[ModelConfig]] = CoolantConfig
    # image_regions_unique: each distinct image of a batch once (hand-made batches may give image_regions)
    requires: ClassVar[frozenset[str]] = frozenset({"text_tokens", "text_mask", "image_regions_unique"})
    description: ClassVar[str] = "Cross-modal contrastive learning for multimodal fake news detection"
    paper: ClassVar[str] = "Wang et al., ACM MM 2023 (COOLANT)"
    deviations: ClassVar[tuple[Deviation, ...]] = DEVIATIONS
    checked_against: ClassVar[tuple[str, ...]] = tuple(
        f"wishever/COOLANT twitter/{f}@4dead9ba5442" for f in ("mymodel.py", "clip.py", "twitter.py", "SENet.py"))
    activity_channels: ClassVar[dict[str, tuple[str, ...]]] = {"ambiguity": ("ambiguity",),
                                                               "attention": ATTENTION_NAMES}

    def __init__(self, config: CoolantConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        config.validate()
        c = config
        self.image_encoder = UnimodalEncoder(dims.image_dim, c.hidden_dim, c.dropout)
        self.text_encoder = UnimodalEncoder(dims.text_dim, c.hidden_dim, c.dropout)
        if c.use_itm and c.released_consistency_module:
            self.consistency: nn.Module | None = ReleasedConsistency(dims, c.shared_dim)
        else:
            self.consistency = TwoTower(c.hidden_dim, c.shared_dim) if c.use_itm else None
        self.contrastive = TwoTower(c.hidden_dim, c.aligned_dim) if c.use_itc else None
        if c.use_itc and not c.constant_logit_scale:
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.tau_init)))
        else:
            self.register_parameter("logit_scale", None)
        d = c.aligned_dim if c.use_itc else c.shared_dim
        self.feature_dim = d
        # CMF: Eq. 8-10 give d*d values, projected to L = d; w/o CMF: concatenation [m^v; m^t] -> d
        if c.released_detection_module:  # the released Twitter DetectionModule replaces Eq. 8-10, 15-17
            self.released: ReleasedDetection | None = ReleasedDetection(dims, d, c)
            self.fusion_proj = self.attention = self.classifier = None
        else:
            self.released = None
            self.fusion_proj = nn.Linear(d * d if c.use_cmf else 2 * d, d)
            self.attention = (ModalityAttention(3, c.attention_hidden, c.excitation_bias, c.attention_squeeze, d)
                              if c.use_att else None)
            self.classifier = nn.Sequential(
                nn.Linear(3 * d, c.classifier_hidden), nn.ReLU(), nn.Dropout(c.dropout),
                nn.Linear(c.classifier_hidden, 2))
        if c.use_agu:
            self.ambiguity_image = GaussianEncoder(d, c.z_dim, c.softplus_std)
            self.ambiguity_text = GaussianEncoder(d, c.z_dim, c.softplus_std)
            if c.detach_ambiguity_target:  # no loss reaches them (see the module docstring): frozen
                self.ambiguity_image.requires_grad_(False)
                self.ambiguity_text.requires_grad_(False)
        else:
            self.ambiguity_image = self.ambiguity_text = None

    # ---------------------------------------------------------------- pieces
    def logit_scale_value(self) -> torch.Tensor | float:
        """1/tau of Eq. 2 and 5: learnable (clamped to [1, max_logit_scale]) or the code's exp(0.07)."""
        if self.logit_scale is None:
            return math.exp(0.07)
        return self.logit_scale.clamp(0.0, math.log(self.config.max_logit_scale)).exp()

    @staticmethod
    def _image_ids(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) ids equal exactly for items whose image features are identical (a shared image).

        From the feature table's unique-image row when the batch has it (no pass over the regions);
        otherwise from the region means.
        """
        if "image_row" in batch:
            if "image_row_inverse" in batch:  # FeatureTable.batch ran this same unique already
                return batch["image_row_inverse"]
            return torch.unique(batch["image_row"], return_inverse=True)[1]
        return torch.unique(item_regions(batch).mean(dim=1), dim=0, return_inverse=True)[1]

    def _consistency_term(self, e_v: torch.Tensor, e_t: torch.Tensor, batch: dict[str, torch.Tensor],
                          embedded: bool = False) -> torch.Tensor:
        """Eq. 1 on the per-batch D' (see ``coolant_losses.build_consistency_pairs``); ``embedded``: e_v,
        e_t are already the per-item consistency embeddings (the released module's own encoders)."""
        c = self.config
        image_ids = self._image_ids(batch)
        text_idx, image_idx, y = eq.build_consistency_pairs(
            batch["label"], image_ids, shift=c.itm_shift, real_only=c.real_only_consistency_pairs)
        if embedded:
            s_v, s_t = e_v[image_idx], e_t[text_idx]
        else:
            s_v, s_t = self.consistency(e_v[image_idx], e_t[text_idx])
        return eq.consistency_loss(s_v, s_t, y, margin=c.margin)

    # ---------------------------------------------------------------- forward
    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        c = self.config
        if "image_regions_unique" in batch:  # each distinct image once (FeatureTable.batch), then per item
            e_v = per_image(self.image_encoder, batch)
        else:
            e_v = self.image_encoder(batch["image_regions"], rows=batch.get("image_row"))
        e_t = self.text_encoder(batch["text_tokens"], batch["text_mask"])
        zero = e_v.new_zeros(())
        losses = {k: zero for k in LOSS_KEYS}
        has_labels = "label" in batch

        shared_v = shared_t = None
        if self.consistency is not None and c.released_consistency_module:
            # its own encoders over the raw features: every item once, the pairs of D' gathered after
            shared_v, shared_t = self.consistency(batch)
            if has_labels:
                losses["itm"] = self._consistency_term(shared_v, shared_t, batch, embedded=True)
        elif self.consistency is not None:
            # isolated (as released): the consistency loss trains only its own MLPs
            src_v, src_t = (e_v.detach(), e_t.detach()) if c.isolate_module_losses else (e_v, e_t)
            if c.use_sem or self.contrastive is None:  # soft targets, or the aligned space w/o ITC
                shared_v, shared_t = self.consistency(src_v, src_t)
            if has_labels:
                losses["itm"] = self._consistency_term(src_v, src_t, batch)

        if self.contrastive is not None:
            m_v, m_t = self.contrastive(e_v, e_t)
            scale = self.logit_scale_value()
            logits = eq.similarity_logits(m_v, m_t, scale)
            if c.itc_shared_image_negatives == "mask":  # same-image pairs out of ITC, SEM and the soft targets
                same_image = self._image_ids(batch)
                logits = eq.mask_shared_images(logits, same_image)
            losses["itc"] = eq.itc_loss(logits)
            if c.use_sem:
                soft_scale = scale.detach() if torch.is_tensor(scale) else scale
                soft_logits = eq.similarity_logits(shared_v, shared_t, soft_scale,
                                                   normalise=not c.soft_targets_raw_dot)
                if c.itc_shared_image_negatives == "mask":
                    soft_logits = eq.mask_shared_images(soft_logits, same_image)
                s_v2t, s_t2v = eq.soft_targets(soft_logits)
                losses["sem"] = eq.semantic_matching_loss(logits, s_v2t, s_t2v)
        else:
            m_v, m_t = shared_v, shared_t  # w/o ITC: the consistency space is the aligned space
        if c.isolate_module_losses:  # the code steps the detection optimiser on detection loss only
            m_v, m_t = m_v.detach(), m_t.detach()
        if c.normalise_detection_inputs:  # the released CLIP module returns L2-normalised vectors (clip.py 98, 109)
            m_v, m_t = F.normalize(m_v, dim=-1), F.normalize(m_t, dim=-1)

        if self.released is not None:
            logits_cls, x_tilde, log_a = self.released(batch, m_v, m_t)
        else:
            fused = eq.cross_modal_fusion(m_v, m_t) if c.use_cmf else torch.cat([m_v, m_t], dim=-1)
            m_f = self.fusion_proj(fused)
            if self.attention is not None:
                weights, log_a = self.attention(torch.stack([m_v, m_t, m_f], dim=1), c.log_softmax_attention)
            else:  # w/o ATT: aggregate the three features directly
                weights, log_a = torch.ones(m_v.shape[0], 3, device=m_v.device, dtype=m_v.dtype), None
            x_tilde = eq.aggregate(m_v, m_t, m_f, weights)
            logits_cls = self.classifier(x_tilde)

        diagnostics: dict[str, torch.Tensor] = {}
        if log_a is not None:  # reported in ATTENTION_NAMES' order (the released module's is text, image, corr)
            a = log_a.detach().exp()
            diagnostics["attention"] = a[:, [1, 0, 2]] if self.released is not None else a
        if self.ambiguity_image is not None and log_a is not None:
            g = self.ambiguity(m_v, m_t)
            diagnostics["ambiguity"] = g.detach()
            target = eq.ambiguity_target(g, normalise=not c.unnormalised_kl_target)
            losses["ag"] = eq.attention_guidance_loss(log_a, target, code_direction=c.code_kl_direction,
                                                      detach_target=c.detach_ambiguity_target)
        self.track_activity(diagnostics)  # epoch means / stds of g and a (benchmark.activity)

        if has_labels:
            losses["cls"] = eq.classification_loss(logits_cls, batch["label"])
            losses["total"] = eq.total_loss(losses["itm"], losses["itc"], losses["sem"], losses["cls"],
                                            losses["ag"], c.lambda_sem, c.gamma)
        else:
            losses = {}
        return ModelOutput(logits=logits_cls, representation=x_tilde, losses=losses, diagnostics=diagnostics)

    def ambiguity(self, m_v: torch.Tensor, m_t: torch.Tensor) -> torch.Tensor:
        """g of Eq. 11-13 per item, (B,), from the aligned features (ambiguity encoders needed)."""
        if self.ambiguity_image is None:
            raise ValueError("this COOLANT variant has no ambiguity guidance (use_agu=False)")
        mu_v, lv_v = self.ambiguity_image(m_v)
        mu_t, lv_t = self.ambiguity_text(m_t)
        return eq.ambiguity_scores(mu_v, lv_v, mu_t, lv_t, aggregate_ratio=self.config.ambiguity_aggregate_ratio)

    # ---------------------------------------------------------------- optimisation
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters split into the code's three modules (empty groups dropped).

        The unimodal encoders have no separate module here; they go with the contrastive module (or
        the consistency one without ITC), whose loss is what shapes them in the released code.
        """
        groups: dict[str, list[nn.Parameter]] = {"consistency": [], "contrastive": [], "detection": []}
        encoder_group = "contrastive" if self.contrastive is not None else "consistency"
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            top = name.split(".", 1)[0]
            if top in ("image_encoder", "text_encoder"):
                groups[encoder_group].append(p)
            elif top == "consistency":
                groups["consistency"].append(p)
            elif top in ("contrastive", "logit_scale"):
                groups["contrastive"].append(p)
            else:
                groups["detection"].append(p)
        return {k: v for k, v in groups.items() if v}

    @property
    def steps_itself(self) -> bool:  # type: ignore[override]
        return self.config.sequential_steps

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: list[torch.optim.Optimizer],
                      autocast) -> ModelOutput:
        """The released order (twitter.py 131-178): step the consistency optimiser on L_ITM; recompute
        (soft targets from the updated consistency module) and step the contrastive one on
        L_ITC + lambda L_SEM; recompute (m^v, m^t from the updated contrastive module) and step the
        detection one on L_CLS + gamma L_AG. Returns the last pass with each term from its own pass."""
        c = self.config
        stages = {"consistency": lambda l: l["itm"], "contrastive": lambda l: l["itc"] + c.lambda_sem * l["sem"],
                  "detection": lambda l: l["cls"] + c.gamma * l["ag"]}
        terms = {"consistency": ("itm",), "contrastive": ("itc", "sem"), "detection": ("cls", "ag")}
        names = self._optimizer_groups
        if len(names) != len(optimizers):
            raise ValueError(f"COOLANT sequential_steps: {len(optimizers)} optimisers for groups {names}; build "
                             f"them with configure_optimizers()")
        kept: dict[str, torch.Tensor] = {}
        out = None
        for i, (name, opt) in enumerate(zip(names, optimizers)):
            opt.zero_grad(set_to_none=True)
            self._activity_paused = i < len(names) - 1  # count g and a once per step (the last pass)
            try:
                with autocast():
                    out = self(batch)
            finally:
                self._activity_paused = False
            stages[name](out.losses).backward()
            opt.step()
            kept.update({k: out.losses[k].detach() for k in terms[name]})
        assert out is not None
        losses = {**{k: v.detach() for k, v in out.losses.items()}, **kept}
        losses["total"] = eq.total_loss(losses["itm"], losses["itc"], losses["sem"], losses["cls"], losses["ag"],
                                        c.lambda_sem, c.gamma)
        out.losses = losses
        return out

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """One optimiser (paper: Adam 1e-3), or the released code's Adam / AdamW(5e-4) / Adam."""
        c = self.config
        if not c.three_optimizers:
            return super().configure_optimizers()
        optimisers = []
        self._optimizer_groups = list(self.parameter_groups())
        for name, params in self.parameter_groups().items():
            if name == "contrastive":
                optimisers.append(make_optimizer("adamw", params, c.lr, c.contrastive_weight_decay))
            else:
                optimisers.append(make_optimizer("adam", params, c.lr, c.weight_decay))
        return optimisers

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        """Optuna space around the paper's values: lr, batch size, lambda, gamma, dropout."""
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "lambda_sem": trial.suggest_float("lambda_sem", 0.0, 1.0),
            "gamma": trial.suggest_float("gamma", 0.0, 1.0),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }
