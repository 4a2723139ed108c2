"""Image-only ResNet18 baseline of the NovEmoFake paper (Kumari et al., JIIS 2023, section 5.2).

The paper classifies the 512-d ResNet18 representation of the target image with the same
feed-forward network as the text-only model (512 and 128 tanh units). Deviation: the paper uses
only target images; ``use_background=True`` additionally concatenates the pooled source image (as
the suite's W/O BG vs WBG comparison asks for every baseline that can take the source side).
"""

from __future__ import annotations

from benchmark.deviations import Deviation
from benchmark.registry import MODELS
from baselines._pooled import FROZEN_POOLED, PooledMLPConfig, PooledMLPModel


@MODELS.register("image_only")
class ImageOnlyBaseline(PooledMLPModel):
    description = "Image-only MLP over pooled image features (optionally + source image)"
    paper = "NovEmoFake (Kumari et al. 2023), section 5.2: ResNet18 (image only)"
    deviations = (FROZEN_POOLED, Deviation(
        "background knowledge (WBG variant)", "target images only",
        "use_background also concatenates the pooled source image (the suite's W/O BG vs WBG comparison)", ""))
    config_class = PooledMLPConfig
    requires = frozenset({"image_pooled"})
    target_keys = ("image_pooled",)
