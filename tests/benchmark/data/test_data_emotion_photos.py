"""Emotion image sets grouped by file checksum: copies count once, a photo labelled both ways is left out."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from benchmark.data.emotion import distinct_photos, load_emotion_folder


def _image(path: Path, colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    return path


def test_copies_count_once_and_a_photo_with_two_groups_is_left_out(tmp_path):
    root = tmp_path / "artphoto"
    _image(root / "fear_0001.jpg", (10, 20, 30))
    shutil.copy(root / "fear_0001.jpg", root / "fear_0002.jpg")  # same photo, same group
    _image(root / "awe_0603.jpg", (200, 10, 10))
    shutil.copy(root / "awe_0603.jpg", root / "excitement_0233.jpg")  # awe -> 1, excitement -> 0
    _image(root / "sad_0001.jpg", (0, 0, 90))
    items, problems = load_emotion_folder(root)
    assert len(items) == 5 and not problems
    kept, problems = distinct_photos(items)
    assert sorted((p.name, g) for p, g in kept) == [("fear_0001.jpg", 1), ("sad_0001.jpg", 0)]
    (problem,) = problems
    assert problem.severity == "warning" and "awe_0603.jpg" in problem.reason \
        and "excitement_0233.jpg" in problem.reason and "left out" in problem.reason
