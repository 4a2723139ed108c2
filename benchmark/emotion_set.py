"""The emotion image set NovEmoFake's emotion module is pre-trained on (UnbiasedEmo + ArtPhoto).

The paper pre-trains its image-emotion classifier on UnbiasedEmo and ArtPhoto, not on the news data,
so a real NovEmoFake-family run needs those images. They are looked for under the data root
(``unbiasedemo/``, ``artphoto/``; any that exist are combined) or taken from an explicit folder (the
model option ``emotion_image_dir``), read by ``benchmark.data.emotion`` and featurised with the run's
image encoder through the feature cache. When none is found, ``EmotionSetUnavailable`` says where it
looked; the runner records such a cell as "not available", never as a crash.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import torch

log = logging.getLogger(__name__)

EMOTION_DIR_NAMES = ("unbiasedemo", "artphoto")


class EmotionSetUnavailable(RuntimeError):
    """No emotion image set: the cell cannot run (PME / PMNE on data without ``emotion`` labels).

    ``str(exc)`` is the table cell text: "not available: no emotion image set (looked for ...)".
    """

    def __init__(self, looked_for: list[str]) -> None:
        self.looked_for = list(looked_for)
        where = ", ".join(self.looked_for) or "nothing: no data root and no emotion_image_dir"
        super().__init__(f"not available: no emotion image set (looked for {where}); put UnbiasedEmo / "
                         f"ArtPhoto under the data root as {' / '.join(d + '/' for d in EMOTION_DIR_NAMES)} "
                         f"or set the model option emotion_image_dir")


def candidate_dirs(data_root: Path | str | None, explicit: Path | str | None = None) -> list[Path]:
    """Where the set is looked for, in order: the explicit folder alone, else the data root's folders."""
    if explicit:
        return [Path(explicit)]
    if data_root is None:
        return []
    return [Path(data_root) / name for name in EMOTION_DIR_NAMES]


def load_emotion_set(dirs: list[Path], image_encoder: Any, cache: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled image features (N, D) and emotion groups (N,) of every distinct labelled photo in the
    existing ``dirs`` (byte-identical copies once; a photo whose copies disagree on the group left out)."""
    from benchmark.data.emotion import distinct_photos, load_emotion_folder
    present = [d for d in dirs if d.is_dir()]
    if not present:
        raise EmotionSetUnavailable([str(d) for d in dirs])
    items: list[tuple[Path, int]] = []
    for folder in present:
        found, problems = load_emotion_folder(folder)
        for problem in problems[:5]:
            log.warning("emotion set: %s", problem)
        items += found
    items, problems = distinct_photos(items)  # one item per photo; a photo labelled both ways left out
    for problem in problems:
        log.warning("emotion set: %s", problem)
    if not items:
        raise EmotionSetUnavailable([f"{d} (no labelled images)" for d in present])
    features = cache.get_images(image_encoder, [path for path, _ in items], desc="emotion images")
    labels = torch.tensor([label for _, label in items], dtype=torch.long)
    return features.pooled.float(), labels


class EmotionSetProvider:
    """Lazy, memoised emotion set for ``PrepareContext.emotion_set``: called with the model's option.

    ``image_encoder`` is the run's image encoder or a zero-argument factory for it (built only when a
    model asks, so runs without emotion never load it).
    """

    def __init__(self, data_root: Path | str | None, image_encoder: Any, cache: Any) -> None:
        self.data_root = data_root
        self._encoder = image_encoder
        self.cache = cache
        self._memo: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def for_run(cls, options: Any) -> "EmotionSetProvider":
        """From a run's options (data_root, workdir, image_encoder[_path]); the encoder loads lazily."""
        from benchmark.encoders.cache import FeatureCache
        from benchmark.encoders.catalog import DEFAULT_IMAGE_ENCODER, get_encoder

        def encoder() -> Any:
            return get_encoder(options.image_encoder or DEFAULT_IMAGE_ENCODER, options.image_encoder_path)
        return cls(options.data_root, encoder, FeatureCache(Path(options.workdir) / "features"))

    def __call__(self, explicit: Path | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        dirs = candidate_dirs(self.data_root, explicit)
        key = tuple(str(d) for d in dirs)
        if key not in self._memo:
            if not any(d.is_dir() for d in dirs):
                raise EmotionSetUnavailable(list(key))
            encoder = self._encoder() if callable(self._encoder) and not hasattr(self._encoder, "encode") \
                else self._encoder
            self._memo[key] = load_emotion_set(dirs, encoder, self.cache)
        return self._memo[key]


EmotionSet = Callable[[Path | str | None], tuple[torch.Tensor, torch.Tensor]]
