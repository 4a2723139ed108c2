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
