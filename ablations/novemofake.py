"""NovEmoFake ablations as variants (paper Tables 5-6): PM, PMN, PME, PMNE for each multimodal encoder.

PM = the proposed model without novelty and emotion (the detector on the encoder's target and source
representations), PMN = with novelty only, PME = with emotion only, PMNE = both (the paper's model and
this model's default). Each exists for the BERT+ResNet and the VisualBERT encoder. PM and PME read the
source because the paper's reported differences only add up that way (see the model's docstring); the
target-only reading is kept as ``pm_target_only`` / ``pme_target_only``. ``adam_pretrain`` swaps the
LARS contrastive pre-training for Adam (the paper uses LARS; Adam is the common substitute).
"""

from __future__ import annotations

from benchmark.deviations import Deviation
from benchmark.variants import register_variant

MODEL = "novemofake"

_SWITCHES = {
    "pm": ("PM", False, False, True,
           "without novelty and emotion: target and source representations, no SCL"),
    "pmn": ("PMN", True, False, True, "novelty only: SCL-pre-trained source/target fusion, no emotion"),
    "pme": ("PME", False, True, True,
            "emotion only: target and source representations + PCA'd emotion features"),
    "pmne": ("PMNE", True, True, True, "novelty and emotion (the paper's final model)"),
    "pm_target_only": ("PM, target only", False, False, False,
                       "without novelty and emotion: target representation only, no source, no SCL"),
    "pme_target_only": ("PME, target only", False, True, False,
                        "emotion only: target representation only + PCA'd emotion features"),
}
_ENCODERS = {"": ("bert_resnet", "BERT+ResNet"), "_visualbert": ("visualbert", "VisualBERT")}
TARGET_ONLY = Deviation(
    "target-only reading of PM / PME", "PM / PME inputs not stated",
    "no source representation: contradicts the paper's reported differences (kept to measure the reading)")

for _name, (_short, _novelty, _emotion, _background, _what) in _SWITCHES.items():
    for _suffix, (_encoder, _encoder_label) in _ENCODERS.items():
        register_variant(
            MODEL, _name + _suffix, f"{_short} ({_encoder_label})",
            {"use_novelty": _novelty, "use_emotion": _emotion, "use_background": _background,
             "encoder": _encoder},
            f"{_short}, {_encoder_label} encoder: {_what}",
            () if _background else (TARGET_ONLY,))

register_variant(
    MODEL, "adam_pretrain", "PMNE (BERT+ResNet), Adam pre-training",
    {"pretrain_optimizer": "adam", "pretrain_lr": 1e-3},
    "PMNE with the novelty module pre-trained by Adam (lr 1e-3) instead of LARS",
    (Deviation("pre-training optimiser", "LARS", "Adam, lr 1e-3", "torchlars LARS"),))
