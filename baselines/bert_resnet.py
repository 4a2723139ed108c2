"""BERT+ResNet18 baseline of the NovEmoFake paper (Kumari et al., JIIS 2023, section 5.2).

Pooled text and image features are concatenated into a multimodal representation (for the target,
and with background knowledge also for the source, concatenated after it) and passed to an MLP with
two hidden layers and a softmax output. The paper does not give the hidden sizes for this model;
the text-only model's 512/128 tanh layers are used (the paper calls the networks "the same").
"""

from __future__ import annotations

from benchmark.deviations import Deviation
from benchmark.registry import MODELS
from baselines._pooled import FROZEN_POOLED, PooledMLPConfig, PooledMLPModel


@MODELS.register("bert_resnet")
class BertResNetBaseline(PooledMLPModel):
    description = "Concatenated pooled text + image features -> MLP (two hidden layers)"
    paper = "NovEmoFake (Kumari et al. 2023), section 5.2: BERT + ResNet18"
    deviations = (FROZEN_POOLED, Deviation(
        "hidden sizes", "not given for this model (\"the same\" network)",
        "the text-only model's 512 / 128 tanh layers", ""))
    config_class = PooledMLPConfig
    requires = frozenset({"text_pooled", "image_pooled"})
    target_keys = ("text_pooled", "image_pooled")
