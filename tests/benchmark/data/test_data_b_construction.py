"""NovEmoFake construction steps (relevance, image choice), k-means events and emotion folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.emotion import ARTPHOTO_TO_EMOTION, emotion_group, load_emotion_folder
from benchmark.data.events import assign_kmeans_events, fit_kmeans_events, kmeans_events
from benchmark.data.relevance import (cosine_similarities, extract_entities, most_similar_image, r_value,
                                      relevance_labels, relevance_scores, relevant_source_indices,
                                      select_source)
from benchmark.data.schema import DataError, DatasetSplits, NewsItem


# ------------------------------------------------------------------ relevance (section 3.2, Eq. 1)
def test_entity_rule() -> None:
    text = "The U.S. President's visit to New York drew 1,200 people #NYC, said Reuters on Monday."
    assert extract_entities(text) == {"u.s", "president", "new", "york", "1,200", "nyc", "reuters", "monday"}
    assert extract_entities("") == frozenset() and extract_entities(None) == frozenset()
    assert extract_entities("all lower case words only") == frozenset()


def test_r_value_hand_computation() -> None:
    source, target = {"obama", "berlin", "2016"}, {"obama", "berlin", "rally", "merkel"}
    assert r_value(source, target) == pytest.approx(2 / 4)
    assert r_value(target, source) == pytest.approx(2 / 3)
    assert r_value({"x"}, set()) == 0.0
    # texts: target entities {obama, berlin, merkel}; source 1 {berlin}, source 2 {obama, berlin}
    scores = relevance_scores("Obama meets Merkel in Berlin", ["Storm over Berlin", "Obama landed in Berlin"])
    assert scores == pytest.approx([1 / 3, 2 / 3])


def test_yes_no_rule_max_r_value() -> None:
    target = "Obama meets Merkel in Berlin"
    sources = ["Storm over Berlin", "Obama landed in Berlin", "cooking recipes", "Merkel and Obama in Berlin"]
    assert relevance_labels(target, sources) == [False, False, False, True]
    assert relevant_source_indices(target, sources[:3]) == [1]
    # ties at the maximum are all "yes"; a maximum of 0 makes every source "no"
    assert relevance_labels(target, ["Obama here", "Merkel there"]) == [True, True]
    assert relevance_labels(target, ["nothing in common", "still nothing"]) == [False, False]
    assert relevance_labels(target, []) == []


def test_most_similar_image_by_cosine() -> None:
    target = np.array([1.0, 0.0, 1.0])
    sources = np.array([[0.0, 1.0, 0.0], [2.0, 0.1, 2.0], [1.0, 0.0, 0.0]])
    assert cosine_similarities(target, sources) == pytest.approx(
        [0.0, 4.0 / (np.sqrt(2) * np.sqrt(8.01)), 1 / np.sqrt(2)])
    assert most_similar_image(target, sources) == 1
    assert most_similar_image(target, [[0.0, 0.0, 0.0], [-1.0, 0.0, -1.0]]) == 1  # zero vector never wins
    assert most_similar_image(target, [[1.0, 0.0, 1.0], [3.0, 0.0, 3.0]]) == 0  # tie: first
    with pytest.raises(ValueError, match="at least one"):
        most_similar_image(target, np.zeros((0, 3)))
    with pytest.raises(ValueError, match="do not match"):
        most_similar_image(target, [[1.0, 2.0]])


def test_select_source_uses_image_similarity_among_relevant() -> None:
    relevant = [False, True, True]
    features = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 0.1])]
    assert select_source(relevant) == 1
    assert select_source(relevant, np.array([1.0, 0.0]), features) == 2
    assert select_source(relevant, np.array([1.0, 0.0]), [features[0], None, None]) == 1
    assert select_source([False, False]) is None


# ------------------------------------------------------------------ k-means events
def blobs(seed: int, n: int = 30) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10]], dtype=float)
    return np.concatenate([c + rng.normal(0, 0.5, (n, 2)) for c in centres])


def test_kmeans_events_deterministic() -> None:
    x = blobs(0)
    first, second = kmeans_events(x, k=3, seed=5), kmeans_events(x, k=3, seed=5)
    assert np.array_equal(first, second) and set(first.tolist()) == {0, 1, 2}
    for block in range(3):  # each blob is one event
        assert len(set(first[block * 30:(block + 1) * 30].tolist())) == 1
    with pytest.raises(DataError, match="smaller k"):
        kmeans_events(x[:2], k=3)


def test_kmeans_fitted_on_train_only() -> None:
    train = blobs(1)
    far = np.array([[100.0, 100.0]] * 40)  # would form its own cluster if test were fitted on
    out = fit_kmeans_events(train, {"test": far, "validation": blobs(2, 3)}, k=3, seed=0)
    assert np.array_equal(out["train"], kmeans_events(train, k=3, seed=0))  # test did not move the centres
    assert len(set(out["test"].tolist())) == 1 and out["test"][0] in set(out["train"].tolist())
    assert out["validation"].tolist() == [out["train"][0]] * 3 + [out["train"][30]] * 3 + [out["train"][60]] * 3
    with pytest.raises(DataError, match="same encoder"):
        fit_kmeans_events(train, {"test": np.zeros((2, 5))}, k=3)


def test_assign_kmeans_events_keeps_given_events() -> None:
    def items(prefix: str, n: int, event: str | None = None) -> list[NewsItem]:
        return [NewsItem(f"{prefix}{k}", "t", (), k % 2, event=event) for k in range(n)]

    splits = DatasetSplits("x", items("a", 90), items("b", 9), items("c", 6, event="given"))
    feats = {"train": blobs(3), "validation": blobs(4, 3), "test": blobs(5, 2)}
    out = assign_kmeans_events(splits, feats, k=3, seed=0)
    assert {i.event for i in out.train} == {"cluster-0", "cluster-1", "cluster-2"}
    assert {i.event for i in out.test} == {"given"}
    assert {i.event for i in assign_kmeans_events(splits, feats, k=3, overwrite=True).test} <= \
        {"cluster-0", "cluster-1", "cluster-2"}
    assert splits.train[0].event is None  # the input is not modified
    with pytest.raises(DataError, match="validation has 9 items but 4 feature rows"):
        assign_kmeans_events(splits, {**feats, "validation": np.zeros((4, 2))}, k=3)


# ------------------------------------------------------------------ emotion folders
def jpg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path, format="JPEG")


def test_emotion_groups_and_artphoto_mapping() -> None:
    assert [emotion_group(n) for n in ("joy", "Love", "sadness", "fear", "surprise", "ANGER")] == [0, 0, 0, 1, 1, 1]
    assert {n: emotion_group(n) for n in ARTPHOTO_TO_EMOTION} == {
        "amusement": 0, "contentment": 0, "excitement": 0, "sad": 0,
        "awe": 1, "anger": 1, "disgust": 1, "fear": 1}
    assert emotion_group("boredom") is None


def test_load_emotion_folder(tmp_path: Path) -> None:
    root = tmp_path / "emotion"
    jpg(root / "UnbiasedEmo" / "joy" / "dog" / "1.jpg")
    jpg(root / "UnbiasedEmo" / "anger" / "man" / "2.jpg")
    jpg(root / "ArtPhoto" / "amusement_12.jpg")
    jpg(root / "ArtPhoto" / "awe_3.jpg")
    jpg(root / "boredom" / "4.jpg")
    (root / "UnbiasedEmo" / "joy" / "notes.txt").write_text("x")
    (root / "fear").mkdir()
    (root / "fear" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    items, problems = load_emotion_folder(root)
    labels = {path.relative_to(root).as_posix(): label for path, label in items}
    assert labels == {"UnbiasedEmo/joy/dog/1.jpg": 0, "UnbiasedEmo/anger/man/2.jpg": 1,
                      "ArtPhoto/amusement_12.jpg": 0, "ArtPhoto/awe_3.jpg": 1, "fear/broken.jpg": 1}
    reasons = [str(p) for p in problems]
    assert any("unknown emotion 'boredom' (1 image(s) skipped)" in r for r in reasons)
    assert any("notes.txt" in r and "not an image" in r for r in reasons)
    verified, problems = load_emotion_folder(root, verify_images=True)
    assert len(verified) == 4 and any("broken.jpg" in p.file and p.severity == "error" for p in problems)
    with pytest.raises(DataError, match="emotion image folder not found"):
        load_emotion_folder(tmp_path / "nope")
