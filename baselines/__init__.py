"""Re-implemented baselines; importing this package registers every one of them in ``MODELS``.

eann, mvae, safe, kmgcn, visualbert, text_only, image_only, bert_resnet, cafe, mcan, mkemn, mcnn, liimr,
fnd_clip, cmc.
"""

from baselines import (  # noqa: F401  (imported for registration)
    bert_resnet,
    cafe,
    cmc,
    eann,
    fnd_clip,
    image_only,
    kmgcn,
    liimr,
    mcan,
    mcnn,
    mkemn,
    mvae,
    safe,
    text_only,
    visualbert,
)
