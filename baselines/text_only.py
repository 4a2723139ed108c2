"""Text-only BERT baseline of the NovEmoFake paper (Kumari et al., JIIS 2023, section 5.2).

The paper feeds the 768-d BERT representations of the target text (and, with background knowledge,
of the source text, concatenated) to a feed-forward network with 512 and 128 tanh units and a
two-way softmax output. Here the text features come from whichever frozen text encoder built the
feature cache (``text_pooled``; MiniLM 384-d offline, BERT 768-d in paper runs).
"""

from __future__ import annotations

from benchmark.registry import MODELS
from baselines._pooled import FROZEN_POOLED, PooledMLPConfig, PooledMLPModel


@MODELS.register("text_only")
class TextOnlyBaseline(PooledMLPModel):
    description = "Text-only MLP over pooled text features (optionally + source text)"
    paper = "NovEmoFake (Kumari et al. 2023), section 5.2: BERT (text only)"
    deviations = (FROZEN_POOLED,)
    config_class = PooledMLPConfig
    requires = frozenset({"text_pooled"})
    target_keys = ("text_pooled",)
