"""Background-knowledge variants of the baselines (NovEmoFake paper, Table 4: W/O BG vs WBG).

``default`` reads the target item only; ``wbg`` also reads the source (background-knowledge) side
through each baseline's ``use_background`` switch. KMGCN's WBG variant also uses the MLP head with
two hidden layers that the NovEmoFake paper describes for its source+target KMGCN.
"""

from __future__ import annotations

import baselines  # noqa: F401  (registers the models the variants refer to)
from benchmark.variants import register_variant

BACKGROUND_MODELS: dict[str, str] = {
    "text_only": "BERT (text only)",
    "image_only": "ResNet18 (image only)",
    "bert_resnet": "BERT+ResNet",
    "visualbert": "VisualBERT",
    "safe": "SAFE",
    "eann": "EANN",
    "kmgcn": "KMGCN",
}

EXTRA_WBG_OVERRIDES: dict[str, dict[str, object]] = {
    "kmgcn": {"head_hidden": (512, 128)},
}

for _model, _label in BACKGROUND_MODELS.items():
    register_variant(_model, "default", label=f"{_label} (W/O BG)", overrides={},
                     description="target item only, no background knowledge")
    register_variant(_model, "wbg", label=f"{_label} (WBG)",
                     overrides={"use_background": True, **EXTRA_WBG_OVERRIDES.get(_model, {})},
                     description="target item plus source (background-knowledge) text and image")


# the released code's behaviour as named variants (issue 25; baselines/eann.py and mvae.py say why)
register_variant("eann", "as_released", label="EANN (as released)",
                 overrides={"softmax_before_ce": True, "linear_discriminator": True},
                 description="softmax before CrossEntropyLoss in both heads; LeakyReLU(True) = linear discriminator")
register_variant("mvae", "released_scales", label="MVAE (released loss scales)", overrides={"loss_scale": "mean"},
                 description="MSE and KL averaged over dimensions, as the released Keras loss")
register_variant("mvae", "as_released", label="MVAE (as released)",
                 overrides={"loss_scale": "mean", "epsilon_std": 0.01, "lr": 1e-5, "batch_size": 128,
                            "max_epochs": 300},
                 description="released loss scales, Adam 1e-5, batch 128, 300 epochs, epsilon std 0.01")
