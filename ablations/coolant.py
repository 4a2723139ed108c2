"""COOLANT's ablations (paper section 4.3.1, Table 2 / Figure 3) and the as-released variant.

Each variant is a switch set over ``benchmark.models.coolant.CoolantConfig``. The ablation
definitions follow the paper's wording:
  w/o ITM  "remove the consistency learning task and only use hard targets for the contrastive
           learning task" -> no L_ITM and no soft targets (no L_SEM).
  w/o ITC  "remove the image-text contrastive learning task and use the consistency learning task
           to learn the aligned unimodal representations" -> no L_ITC and no L_SEM (the soft targets
           only soften the contrastive loss); m^v, m^t come from the consistency space.
  w/o CMF  "replace it with simply concatenating m^v and m^t" -> [m^v; m^t] projected to L.
  w/o ATT  "remove the attention mechanism module and directly aggregate the three features" ->
           unweighted concatenation; the guidance loss has no attention weights left to guide, so
           L_AG is gone too.
  w/o AGU  "remove the attention guidance module" -> no L_AG; the attention module stays.
"""

from __future__ import annotations

from benchmark.deviations import Deviation
from benchmark.models.coolant import CoolantConfig
from benchmark.variants import register_variant

AS_RELEASED = {
    "constant_logit_scale": True,
    "soft_targets_raw_dot": True,
    "log_softmax_attention": True,
    "unnormalised_kl_target": True,
    "code_kl_direction": True,
    "ambiguity_aggregate_ratio": False,
    "detach_ambiguity_target": False,
    "real_only_consistency_pairs": True,
    "itm_shift": 3,
    "isolate_module_losses": True,
    "three_optimizers": True,
    "sequential_steps": True,
    "released_detection_module": True,
    "released_consistency_module": True,
    "normalise_detection_inputs": True,
    "softplus_std": True,
}

VARIANTS: dict[str, tuple[str, dict, str]] = {
    "default": ("COOLANT", {}, "paper defaults (section 3, 4.1.3)"),
    "wo_itm": ("w/o ITM", {"use_itm": False, "use_sem": False},
               "no consistency learning; contrastive learning with hard targets only"),
    "wo_itc": ("w/o ITC", {"use_itc": False, "use_sem": False},
               "no image-text contrastive learning; the consistency space gives the aligned features"),
    "wo_cmf": ("w/o CMF", {"use_cmf": False}, "fusion replaced by concatenating m^v and m^t"),
    "wo_att": ("w/o ATT", {"use_att": False, "use_agu": False},
               "no attention; the three features are concatenated directly (so no guidance either)"),
    "wo_agu": ("w/o AGU", {"use_agu": False}, "no attention guidance loss"),
    "free_attention": ("COOLANT (free attention)", {"attention_squeeze": "none"},
                       "the SE excitation reads the stacked (3 L) features instead of their means over L, so "
                       "the attention can vary per item without the guidance; not the paper's squeeze (read "
                       "Table 2 both ways)"),
    "wo_agu_free_attention": ("w/o AGU (free attention)", {"use_agu": False, "attention_squeeze": "none"},
                              "free_attention without the attention guidance loss"),
    "as_released": ("COOLANT (as released)", AS_RELEASED,
                    "public code: logits * exp(0.07), log-softmax attention weights, KL(g||a) to the attached, "
                    "unnormalised target [1-s,1-s,s] without the Eq. 12 denominator, real-news-only "
                    "consistency pairs with images rolled by 3, each loss training only its module, "
                    "three optimisers (Adam / AdamW wd 5e-4 / Adam) stepped one after the other with "
                    "recomputation, its own consistency module (FastCNN + BN/ReLU towers), L2-normalised "
                    "aligned vectors into correlation and ambiguity, softplus std, and the released detection "
                    "module (own encoders, 1-D SE-ResNet attention over [text, image, corr])"),
}

DEVIATIONS: dict[str, tuple[Deviation, ...]] = {
    "wo_itm": (Deviation("w/o ITM and L_SEM", "remove the consistency learning task; hard targets only",
                         "L_ITM and L_SEM both off (the soft targets come from the consistency module)"),),
    "wo_itc": (Deviation("w/o ITC aligned space", "use the consistency learning task to learn the aligned "
                         "unimodal representations", "m^v, m^t = the consistency-space embeddings; L_SEM off "
                         "(it only softens L_ITC)"),),
    "wo_att": (Deviation("w/o ATT and guidance", "remove the attention module, aggregate directly",
                         "unweighted concatenation; L_AG removed too (no attention weights left to guide)"),),
    "free_attention": (Deviation("attention squeeze (3.4.1)", "global average pooling of the L x 3 stack "
                                 "to 1 x 3, then the excitation",
                                 "no squeeze: the excitation FC-ReLU-FC (bias-free, hidden 16) reads the stacked "
                                 "3L features, so the attention can depend on the items' content"),),
    "wo_agu_free_attention": (Deviation("attention squeeze (3.4.1)", "global average pooling to 1 x 3",
                                        "no squeeze (as free_attention), and no L_AG"),),
    "as_released": (
        Deviation("as-released detection inputs", "-",
                  "the released detection module (own CAFE encoders, uni-modal MLPs, 19-block 1-D SE-ResNet) "
                  "over the run's frozen token states and the mean of the image regions",
                  "CAFE's 200-d word vectors and one 512-d pooled image vector"),
        Deviation("as-released KL estimate", "-", "closed-form KL", "one-sample Monte-Carlo estimate"),
        Deviation("as-released quirks not reproduced", "-",
                  "train mode every epoch", "detection module stuck in eval mode after the first test (frozen "
                  "batch-norm, no dropout: twitter.py 109-110 set only the other two modules to train)"),
        Deviation("as-released contrastive text tower", "-",
                  "our text encoder (FC + masked mean) and MLP tower, trained by ITC + SEM",
                  "clip.py 100-109: FastCNN (dropout per branch) and MLP to 128 values, cast to integers "
                  "(.long(): no gradient ever reaches them), embedded (49408 x 768), and a 12-layer transformer "
                  "with batch_first=False, so its sequence axis is the BATCH: each item's output attends over "
                  "the other items of the batch, and [:, -1, :] keeps the 128th feature slot only; the text "
                  "vector of an item thus depends on the integer part of one feature of every item in its batch"),
        Deviation("as-released contrastive image tower", "-",
                  "our image encoder (FC + mean over regions) and MLP tower",
                  "clip.py 62-71, 96-98: 512 -> 256 -> 128 with batch norm, ReLU, dropout, then a linear layer "
                  "to 64, L2-normalised"),
        Deviation("as-released consistency pairs and batch norm", "-",
                  "its own encoders run once over every item of the batch; the pairs of D' are gathered after "
                  "(batch-norm statistics over the whole batch)",
                  "the module runs on the real-news pairs only (twitter.py 125-134): batch-norm statistics "
                  "over the real subset, twice (matched, unmatched)"),
        Deviation("as-released protocol", "-", "--protocol as-released trains on the whole training file "
                  "(our validation carve included) and keeps the best test epoch; validation is scored for "
                  "logging only (on items it trained on)", "the whole training file, best test epoch"),
    ),
}

for _name, (_label, _overrides, _description) in VARIANTS.items():
    _unknown = set(_overrides) - CoolantConfig.field_names()
    if _unknown:  # a typo here would otherwise only surface when a suite resolves the variant
        raise ValueError(f"ablations/coolant.py: variant {_name!r} sets unknown keys {sorted(_unknown)}")
    register_variant("coolant", _name, _label, _overrides, _description, DEVIATIONS.get(_name, ()))
