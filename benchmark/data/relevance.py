"""The offline construction steps of the NovEmoFake corpus (Kumari et al. 2023, section 3).

NovEmoFake pairs each target post (from Fauxtography, ReCOVery or TI-CNN) with up to four source
news items found by reverse image search. Two steps decide which source material a pair keeps:

* **Source image selection (section 3.1).** Of the images of one source, keep the one whose CNN
  feature (VGG16 fc7 in the paper) has the highest cosine similarity to the target image's feature:
  :func:`most_similar_image`.
* **Relevance annotation (section 3.2, Eq. 1).** ``R_value = |S ∩ T| / |T|`` where S and T are the
  sets of named entities of the source and the target text. The paper's rule: the source with the
  *maximum* R_value is labelled "yes" (relevant), the remaining sources "no":
  :func:`relevance_labels`.

The paper extracts entities with a named-entity recogniser. No NER model is available offline in
this suite, so :func:`extract_entities` uses a simple, documented rule instead (capitalised tokens,
hashtags and numbers, lower-cased, minus a short list of capitalised function words). It is a
stand-in: its R_values are close in spirit but not identical to the paper's.

Two decisions the paper leaves open, made here and documented in docs/datasets.md:

* a target text with no entity (|T| = 0) has R_value 0 for every source (Eq. 1 is undefined);
* a maximum R_value of 0 labels every source "no" (a source sharing no entity with the target is
  no evidence of relevance); ties at the maximum are all "yes".
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Sequence

import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "ENTITY_STOPWORDS",
    "extract_entities",
    "r_value",
    "relevance_scores",
    "relevance_labels",
    "relevant_source_indices",
    "cosine_similarities",
    "most_similar_image",
    "select_source",
]

# Capitalised words that are sentence starters or function words, not names. Lower-cased.
ENTITY_STOPWORDS: frozenset[str] = frozenset(
    """a an the this that these those it its he she they we you i my our your his her their
    in on at of for to from by with and or but if as is are was were be been not no yes so
    there here what when where who why how which after before while during then now
    also just all any some many more most one breaking photo image video watch see read
    rt via""".split()
)

# hashtag | dotted acronym (U.S.) | number (with , . separators, optional %) | word starting with an upper-case letter
_TOKEN_RE = re.compile(
    r"#(?P<hashtag>\w+)"
    r"|(?P<acronym>(?:[^\W\d_]\.){2,})"
    r"|(?P<number>\d+(?:[.,]\d+)*%?)"
    r"|(?P<word>[^\W\d_][\w'’\-]*)"
)


def extract_entities(text: str | None) -> frozenset[str]:
    """Entities of ``text`` by the offline rule: capitalised tokens, hashtags, numbers; lower-cased.

    >>> sorted(extract_entities("Obama met #Merkel in Berlin on 3 May, said the Times"))
    ['3', 'berlin', 'may', 'merkel', 'obama', 'times']
    """
    if not text:
        return frozenset()
    entities: set[str] = set()
    for match in _TOKEN_RE.finditer(text):
        if match.group("hashtag"):
            entities.add(match.group("hashtag").lower())
        elif match.group("acronym"):
            entities.add(match.group("acronym").lower().rstrip("."))
        elif match.group("number"):
            entities.add(match.group("number").rstrip(".,"))
        else:
            word = re.sub(r"['’]s$", "", match.group("word")).strip("'’-")
            if word and word[0].isupper():
                lowered = word.lower()
                if lowered not in ENTITY_STOPWORDS:
                    entities.add(lowered)
    return frozenset(entities)


def r_value(source_entities: Iterable[str], target_entities: Iterable[str]) -> float:
    """Eq. 1 of the paper: ``|S ∩ T| / |T|``; 0.0 when the target has no entity."""
    source, target = set(source_entities), set(target_entities)
    if not target:
        return 0.0
    return len(source & target) / len(target)


def relevance_scores(target_text: str, source_texts: Sequence[str | None]) -> list[float]:
    """R_value of every source text against one target text."""
    target = extract_entities(target_text)
    return [r_value(extract_entities(text), target) for text in source_texts]


def relevance_labels(target_text: str, source_texts: Sequence[str | None]) -> list[bool]:
    """Section 3.2 rule: "yes" (True) for the source(s) with the maximum R_value, "no" for the rest.

    Ties at the maximum are all "yes"; when the maximum is 0 every source is "no".
    """
    scores = relevance_scores(target_text, source_texts)
    if not scores:
        return []
    best = max(scores)
    if best <= 0.0:
        return [False] * len(scores)
    return [score == best for score in scores]


def relevant_source_indices(target_text: str, source_texts: Sequence[str | None]) -> list[int]:
    """Indices of the sources labelled "yes" by :func:`relevance_labels`, in their given order."""
    return [i for i, keep in enumerate(relevance_labels(target_text, source_texts)) if keep]


def cosine_similarities(target_feature: np.ndarray, source_features: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Cosine similarity of one target vector to each row of ``source_features``.

    A zero vector (on either side) has similarity -1.0 so that it is never preferred to a real one.
    """
    target = np.asarray(target_feature, dtype=np.float64).reshape(-1)
    sources = np.asarray(source_features, dtype=np.float64)
    if sources.ndim == 1:
        sources = sources.reshape(1, -1)
    if sources.ndim != 2 or sources.shape[1] != target.shape[0]:
        raise ValueError(
            f"source features of shape {sources.shape} do not match the target feature of length "
            f"{target.shape[0]}: pass one row per source image, same encoder for both sides"
        )
    target_norm = np.linalg.norm(target)
    source_norms = np.linalg.norm(sources, axis=1)
    sims = np.full(sources.shape[0], -1.0)
    valid = (source_norms > 0) & (target_norm > 0)
    sims[valid] = (sources[valid] @ target) / (source_norms[valid] * target_norm)
    return sims


def most_similar_image(target_feature: np.ndarray, source_features: np.ndarray | Sequence[np.ndarray]) -> int:
    """Index of the source image whose feature is most cosine-similar to the target image's.

    Ties (equal up to rounding) go to the lowest index (the first image listed), so the choice is
    deterministic; an all-zero source feature is chosen only when every source is all-zero.
    """
    sources = np.asarray(source_features, dtype=np.float64)
    if sources.size == 0:
        raise ValueError("most_similar_image needs at least one source feature; got none")
    sims = cosine_similarities(target_feature, sources)
    if sources.ndim == 2:
        sims[np.linalg.norm(sources, axis=1) == 0] = -np.inf  # an all-zero feature never wins
    best = np.max(sims)
    # ties (up to rounding) go to the first listed image
    return int(np.flatnonzero(sims >= best - 1e-9 * max(1.0, abs(best)))[0])


def select_source(relevant: Sequence[bool], target_feature: np.ndarray | None = None,
                  source_features: np.ndarray | Sequence[np.ndarray | None] | None = None) -> int | None:
    """Index of the one source a NovEmoFake pair keeps, among the sources marked relevant.

    With image features (``source_features[i]`` the chosen image feature of source i, None where a
    source has no image) the relevant source whose image is most cosine-similar to the target image
    wins, as in section 3.1. Without features (at load time, before any encoder ran) the first
    relevant source wins. None when no source is relevant.
    """
    candidates = [i for i, keep in enumerate(relevant) if keep]
    if not candidates:
        return None
    if target_feature is None or source_features is None:
        return candidates[0]
    with_feature = [i for i in candidates if source_features[i] is not None]
    if not with_feature:
        return candidates[0]
    best = most_similar_image(target_feature, np.stack([np.asarray(source_features[i]) for i in with_feature]))
    return with_feature[best]
