"""Re-implemented baselines; importing this package registers every one of them in ``MODELS``.

eann, mvae, safe, kmgcn, visualbert, text_only, image_only, bert_resnet, cafe, mcan.
"""

from baselines import (  # noqa: F401  (imported for registration)
    bert_resnet,
    cafe,
    eann,
    image_only,
    kmgcn,
    mcan,
    mvae,
    safe,
    text_only,
    visualbert,
)
