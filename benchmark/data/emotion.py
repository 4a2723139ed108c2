"""Image-emotion folders (UnbiasedEmo, ArtPhoto) for pre-training NovEmoFake's emotion model.

The NovEmoFake paper (section 4, "Emotion model") pre-trains a ResNet18 + MLP on UnbiasedEmo
(Panda et al. 2018) and ArtPhoto (Machajdik and Hanbury 2010) combined, with two classes following
Kumari et al. 2021a: **0 = joy, love, sadness** ("emotion true") and **1 = fear, surprise, anger**
("emotion false"). The label numbering matches ``NewsItem.emotion``.

UnbiasedEmo is published as one folder per emotion (``anger fear joy love sadness surprise``), with
object sub-folders below. ArtPhoto is published as a flat folder of files named
``<emotion>_<n>.jpg`` over eight Mikels emotions that the paper does not map; this module maps them
to the nearest of the six names (documented in docs/datasets.md)::

    amusement, contentment, excitement -> joy      (group 0)
    sad                                -> sadness  (group 0)
    awe                                -> surprise (group 1)
    anger                              -> anger    (group 1)
    disgust                            -> anger    (group 1)
    fear                               -> fear     (group 1)

A file's emotion is the first path component below ``root`` that names an emotion, else the prefix
of its file name before ``_``. A folder or file whose emotion cannot be found is reported as a
:class:`Problem` (never silently skipped); non-image files likewise.

Byte-identical copies (ArtPhoto has 23 pairs, one of them under two names of different groups,
``awe_0603.jpg`` = ``excitement_0233.jpg``) are grouped by file checksum with
:func:`distinct_photos`: one item per photo, so no photo can sit on both sides of the emotion
model's train/validation split, and a photo whose copies disagree on the group is left out (reported).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

from benchmark.data.images import IMAGE_SUFFIXES, image_content_key, inspect_image
from benchmark.data.schema import DataError, Problem

log = logging.getLogger(__name__)

__all__ = ["EMOTION_GROUP", "ARTPHOTO_TO_EMOTION", "emotion_group", "load_emotion_folder", "distinct_photos"]

# The paper's six emotion names -> its two groups (0 = joy/love/sadness, 1 = fear/surprise/anger).
EMOTION_GROUP: dict[str, int] = {"joy": 0, "love": 0, "sadness": 0,
                                 "fear": 1, "surprise": 1, "anger": 1}

# ArtPhoto's eight Mikels categories -> the nearest of the six names (this suite's choice).
ARTPHOTO_TO_EMOTION: dict[str, str] = {
    "amusement": "joy", "contentment": "joy", "excitement": "joy", "sad": "sadness",
    "awe": "surprise", "anger": "anger", "disgust": "anger", "fear": "fear",
}

_ALIASES: dict[str, str] = {**{name: name for name in EMOTION_GROUP}, **ARTPHOTO_TO_EMOTION}


def emotion_group(name: str) -> int | None:
    """Group (0/1) of an emotion name from either dataset, case-insensitive; None when unknown."""
    canonical = _ALIASES.get(name.strip().lower())
    return None if canonical is None else EMOTION_GROUP[canonical]


def _label_from_path(relative: Path) -> int | None:
    for part in relative.parts[:-1]:
        group = emotion_group(part)
        if group is not None:
            return group
    match = re.match(r"([A-Za-z]+)[_\-\s]", relative.name)
    if match:
        return emotion_group(match.group(1))
    return None


def load_emotion_folder(root: Path | str, verify_images: bool = False
                        ) -> tuple[list[tuple[Path, int]], list[Problem]]:
    """Every image under ``root`` with its emotion group, and the problems found.

    ``verify_images`` decodes each image (slow on 20k files) and reports unreadable ones as errors
    instead of returning them. Files are returned in sorted path order, so the result is stable.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: emotion image folder not found; expected sub-folders named by emotion "
                        f"({', '.join(EMOTION_GROUP)}) or ArtPhoto files named <emotion>_<n>.jpg")
    items: list[tuple[Path, int]] = []
    problems: list[Problem] = []
    unknown: Counter[str] = Counter()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # hidden files and folders (.DS_Store, .git)
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(Problem(str(path), None, f"not an image file (suffix {path.suffix!r}); skipped",
                                    severity="warning"))
            continue
        label = _label_from_path(relative)
        if label is None:
            unknown[relative.parts[0] if len(relative.parts) > 1 else relative.name] += 1
            continue
        if verify_images:
            reason = inspect_image(path)
            if reason is not None:
                problems.append(Problem(str(path), None, f"unusable image: {reason}"))
                continue
        items.append((path, label))
    known = ", ".join(sorted(_ALIASES))
    for name, count in sorted(unknown.items()):
        problems.append(Problem(
            str(root / name), None,
            f"unknown emotion {name!r} ({count} image(s) skipped); rename the folder to one of: {known}",
            severity="warning"))
    if not items:
        problems.append(Problem(str(root), None, "no labelled emotion images found"))
    counts = Counter(label for _, label in items)
    log.info("%s: %d emotion images (group 0: %d, group 1: %d), %d problem(s)",
             root, len(items), counts[0], counts[1], len(problems))
    return items, problems


def distinct_photos(items: list[tuple[Path, int]]) -> tuple[list[tuple[Path, int]], list[Problem]]:
    """One ``(path, group)`` per distinct photo (sha1 of the file's bytes), in first-seen order.

    Copies with the same group collapse to the first path (logged); a photo
    whose copies carry different groups is left out entirely (a warning names them): either label
    would be a guess, and keeping both would teach the model two answers for one input."""
    by_key: dict[str, list[tuple[Path, int]]] = {}
    for path, label in items:
        by_key.setdefault(image_content_key(path), []).append((path, label))
    kept: list[tuple[Path, int]] = []
    problems: list[Problem] = []
    collapsed = 0
    for copies in by_key.values():
        names = ", ".join(p.name for p, _ in copies)
        if len({label for _, label in copies}) > 1:
            problems.append(Problem(str(copies[0][0]), None, f"one photo with labels of both emotion groups "
                                    f"({names}); left out", severity="warning"))
            continue
        collapsed += len(copies) - 1
        kept.append(copies[0])
    if collapsed:
        log.info("emotion set: %d byte-identical copies counted once (%d distinct photos kept)", collapsed, len(kept))
    return kept, problems
