"""NovEmoFake ablations as variants (paper Tables 5-6): PM, PMN, PME, PMNE for each multimodal encoder.

PM = the proposed model without novelty and emotion (the detector on the encoder's target
representation), PMN = with novelty only, PME = with emotion only, PMNE = both (the paper's model and
this model's default). Each exists for the BERT+ResNet and the VisualBERT encoder. ``adam_pretrain``
swaps the LARS contrastive pre-training for Adam (the paper uses LARS; Adam is the common substitute).
"""

from __future__ import annotations

from benchmark.variants import register_variant

MODEL = "novemofake"

_SWITCHES = {
    "pm": ("PM", False, False, "without novelty and emotion: target representation only, no source, no SCL"),
    "pmn": ("PMN", True, False, "novelty only: SCL-pre-trained source/target fusion, no emotion"),
    "pme": ("PME", False, True, "emotion only: target representation + PCA'd emotion features"),
    "pmne": ("PMNE", True, True, "novelty and emotion (the paper's final model)"),
}
_ENCODERS = {"": ("bert_resnet", "BERT+ResNet"), "_visualbert": ("visualbert", "VisualBERT")}

for _name, (_short, _novelty, _emotion, _what) in _SWITCHES.items():
    for _suffix, (_encoder, _encoder_label) in _ENCODERS.items():
        register_variant(
            MODEL, _name + _suffix, f"{_short} ({_encoder_label})",
            {"use_novelty": _novelty, "use_emotion": _emotion, "encoder": _encoder},
            f"{_short}, {_encoder_label} encoder: {_what}")

register_variant(
    MODEL, "adam_pretrain", "PMNE (BERT+ResNet), Adam pre-training",
    {"pretrain_optimizer": "adam", "pretrain_lr": 1e-3},
    "PMNE with the novelty module pre-trained by Adam (lr 1e-3) instead of LARS")
