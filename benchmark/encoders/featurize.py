"""Turn a dataset's NewsItems into per-split feature tables (the input of every model).

Why: models never see raw text or pixels; they read the batch keys documented in
``benchmark.features``. Features are computed through the on-disk cache, and stored once per unique
text and unique image (by content) in ``FeatureTable.shared`` as (unique_rows, index) pairs, because
many posts share one image or one text. The unique-row tensors are shared by the three splits (each
split's index points only at its own items' rows), and main and background ("source") texts or
images share one set of rows, so a text that is both a post and a source is stored once.

Absent content:
  * no image (blank-image policy): image rows are zeros, ``has_image`` False;
  * no background knowledge: source rows are zeros, ``has_source`` False. An absent *text* gets a
    zero "null" token whose mask is True at position 0 only, so masked attention/softmax over the
    tokens never meets an all-False mask (which gives NaN); its pooled vector is zero.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import torch

from benchmark.data.schema import SPLITS, DataError, DatasetSplits, NewsItem
from benchmark.encoders.base import ImageEncoder, TextEncoder
from benchmark.encoders.cache import FeatureCache
from benchmark.features import FeatureDims, FeatureSplits, FeatureTable

log = logging.getLogger(__name__)


class _Uniques:
    """Assigns a row number to each distinct key, in order of first appearance."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.payload: list[object] = []

    def add(self, key: str, payload: object) -> int:
        row = self.rows.get(key)
        if row is None:
            row = len(self.payload)
            self.rows[key] = row
            self.payload.append(payload)
        return row


def _image_key(cache: FeatureCache, path: Path, item: NewsItem, split: str, role: str) -> str:
    try:
        return cache.image_key(path)
    except (DataError, OSError) as exc:
        raise DataError(f"{split} item {item.item_id!r}: {role} {path} cannot be read ({exc}); fix the path "
                        "or drop the image through the dataset's blank-image policy") from exc


# Chosen by measurement (benchmarks/perf.py): EfficientNet-Lite0's activations at batch 32 overflow
# the CPU caches; batch 4 in channels_last ran about 3x faster per image with the same features.
# MiniLM likewise: texts sorted by token count, batch 8 ran 1.1-1.3x faster per text than 64 on one
# core (1,200 MediaEval texts, 40 tokens on average; pooled vectors equal to 1.4e-7).
TEXT_BATCH_SIZE = 8
IMAGE_BATCH_SIZE = 4


def build_feature_splits(splits: DatasetSplits, text_encoder: TextEncoder, image_encoder: ImageEncoder,
                         cache: FeatureCache, *, with_source: bool | None = None,
                         text_batch_size: int = TEXT_BATCH_SIZE, image_batch_size: int = IMAGE_BATCH_SIZE,
                         extra_image_encoders: Mapping[str, ImageEncoder] | None = None,
                         extra_text_encoders: Mapping[str, TextEncoder] | None = None,
                         item_texts: Mapping[str, Mapping[str, str]] | None = None,
                         ) -> FeatureSplits:
    """Encode (through ``cache``) every unique text and image of ``splits`` and build the feature tables.

    ``with_source``: add the background-knowledge keys (``source_*``, ``has_source``); ``None`` means
    "when the dataset has background knowledge". ``extra_image_encoders`` (name -> encoder): one more
    per-image feature each, batch key ``image_<name>`` (N, R, D) over the post's image (zeros without
    one), e.g. MCNN's error-level-analysis map (``benchmark.encoders.ela``). ``extra_text_encoders``
    likewise per text: batch key ``text_<name>`` (N, D), the pooled vector (e.g. CLIP's text tower,
    ``benchmark.encoders.clip``). ``item_texts`` (name -> {item id: text}): one more text per item,
    encoded by the main text encoder, batch keys ``<name>_tokens``, ``<name>_mask``, ``<name>_pooled``
    and ``has_<name>`` (the null text without one), e.g. MKEMN's linked entities
    (``benchmark.data.entities``). Their widths are in ``FeatureDims.extras``.
    """
    if with_source is None:
        with_source = splits.has_source
    elif with_source and not splits.has_source:
        log.warning("dataset %s has no background knowledge (source text/images): the source_* features "
                    "will be all zeros and has_source all False", splits.name)

    texts = _Uniques()
    images = _Uniques()
    NO_ROW = -1
    per_split: dict[str, dict[str, list[int]]] = {}
    for split in SPLITS:
        idx: dict[str, list[int]] = {"text": [], "image": [], "source_text": [], "source_image": []}
        for item in splits.split(split):
            if not isinstance(item.text, str):
                raise DataError(f"{split} item {item.item_id!r}: text is {type(item.text).__name__}, expected str")
            idx["text"].append(texts.add(item.text, item.text))
            for name, by_item in sorted((item_texts or {}).items()):
                extra = by_item.get(item.item_id)
                idx.setdefault(name, []).append(texts.add(extra, extra) if extra is not None else NO_ROW)
            path = item.image_path
            idx["image"].append(images.add(_image_key(cache, path, item, split, "image"), path)
                                if path is not None else NO_ROW)
            if with_source:
                idx["source_text"].append(texts.add(item.source_text, item.source_text)
                                          if item.source_text is not None else NO_ROW)
                spath = item.source_image_path
                idx["source_image"].append(
                    images.add(_image_key(cache, spath, item, split, "source image"), spath)
                    if spath is not None else NO_ROW)
        per_split[split] = idx

    n_items = sum(len(splits.split(s)) for s in SPLITS)
    log.info("%s: %d items, %d unique texts, %d unique images", splits.name, n_items, len(texts.payload),
             len(images.payload))

    # ---- text rows (+ one null row for absent source texts)
    text_feats = cache.get_text(text_encoder, [str(t) for t in texts.payload], batch_size=text_batch_size,
                                desc=f"{splits.name}: texts [{text_encoder.name}]")
    text_len = int(text_feats.tokens.shape[1]) if len(texts.payload) else int(text_encoder.max_length)
    text_dim = int(text_feats.pooled.shape[1]) if len(texts.payload) else int(text_encoder.dim)
    null_text = len(texts.payload)
    null_mask = torch.zeros(1, text_len, dtype=torch.bool)
    null_mask[0, 0] = True
    text_tokens = torch.cat([text_feats.tokens, torch.zeros(1, text_len, text_dim, dtype=torch.float16)])
    text_mask = torch.cat([text_feats.mask, null_mask])
    text_pooled = torch.cat([text_feats.pooled, torch.zeros(1, text_dim)])

    # ---- image rows (+ one zero row for absent images)
    image_paths = [Path(p) for p in images.payload]  # type: ignore[arg-type]
    image_keys = list(images.rows)  # insertion order == row order
    image_feats = cache.get_images(image_encoder, image_paths, batch_size=image_batch_size, keys=image_keys,
                                   desc=f"{splits.name}: images [{image_encoder.name}]")
    if image_paths:
        n_regions, image_dim = int(image_feats.regions.shape[1]), int(image_feats.regions.shape[2])
    else:
        n_regions, image_dim = int(image_encoder.regions), int(image_encoder.dim)
    null_image = len(image_paths)
    image_regions = torch.cat([image_feats.regions, torch.zeros(1, n_regions, image_dim, dtype=torch.float16)])
    image_pooled = torch.cat([image_feats.pooled, torch.zeros(1, image_dim)])
    extra_rows: dict[str, torch.Tensor] = {}
    for extra_name, extra_encoder in sorted((extra_image_encoders or {}).items()):
        feats = cache.get_images(extra_encoder, image_paths, batch_size=image_batch_size, keys=image_keys,
                                 desc=f"{splits.name}: images [{extra_encoder.name}]")
        if image_paths:
            rows = feats.regions
        else:
            rows = torch.zeros(0, int(extra_encoder.regions), int(extra_encoder.dim), dtype=torch.float16)
        extra_rows[f"image_{extra_name}"] = torch.cat([rows, torch.zeros(1, *rows.shape[1:], dtype=rows.dtype)])

    extra_text_rows: dict[str, torch.Tensor] = {}
    for extra_name, extra_encoder in sorted((extra_text_encoders or {}).items()):
        feats = cache.get_text(extra_encoder, [str(t) for t in texts.payload], batch_size=text_batch_size,
                               desc=f"{splits.name}: texts [{extra_encoder.name}]")
        pooled = feats.pooled if len(texts.payload) else torch.zeros(0, int(extra_encoder.dim))
        extra_text_rows[f"text_{extra_name}"] = torch.cat([pooled.float(), torch.zeros(1, pooled.shape[1])])

    # ---- events over all splits
    event_names = sorted({item.event for _, item in splits.items() if item.event is not None})
    event_code = {name: code for code, name in enumerate(event_names)}

    def index(rows: list[int], null_row: int) -> torch.Tensor:
        return torch.tensor([r if r != NO_ROW else null_row for r in rows], dtype=torch.long)

    tables: dict[str, FeatureTable] = {}
    for split in SPLITS:
        items = splits.split(split)
        idx = per_split[split]
        t_idx = index(idx["text"], null_text)
        i_idx = index(idx["image"], null_image)
        columns = {
            "has_image": torch.tensor([r != NO_ROW for r in idx["image"]], dtype=torch.bool),
            "emotion": torch.tensor([item.emotion if item.emotion is not None else -1 for item in items],
                                    dtype=torch.long),
        }
        shared = {
            "text_tokens": (text_tokens, t_idx), "text_mask": (text_mask, t_idx), "text_pooled": (text_pooled, t_idx),
            "image_regions": (image_regions, i_idx), "image_pooled": (image_pooled, i_idx),
        }
        shared.update({key: (rows, i_idx) for key, rows in extra_rows.items()})
        shared.update({key: (rows, t_idx) for key, rows in extra_text_rows.items()})
        for name in sorted(item_texts or {}):
            e_idx = index(idx.get(name, []), null_text)
            columns[f"has_{name}"] = torch.tensor([r != NO_ROW for r in idx.get(name, [])], dtype=torch.bool)
            shared.update({f"{name}_tokens": (text_tokens, e_idx), f"{name}_mask": (text_mask, e_idx),
                           f"{name}_pooled": (text_pooled, e_idx)})
        if with_source:
            st_idx = index(idx["source_text"], null_text)
            si_idx = index(idx["source_image"], null_image)
            columns["has_source"] = torch.tensor([item.has_source for item in items], dtype=torch.bool)
            shared.update({
                "source_text_tokens": (text_tokens, st_idx), "source_text_mask": (text_mask, st_idx),
                "source_text_pooled": (text_pooled, st_idx),
                "source_image_regions": (image_regions, si_idx), "source_image_pooled": (image_pooled, si_idx),
            })
        tables[split] = FeatureTable(
            item_ids=[item.item_id for item in items],
            labels=torch.tensor([int(item.label) for item in items], dtype=torch.long),
            events=torch.tensor([event_code[item.event] if item.event is not None else -1 for item in items],
                                dtype=torch.long),
            columns=columns, shared=shared,
        )

    dims = FeatureDims(text_dim=text_dim, image_dim=image_dim, text_len=text_len, image_regions=n_regions,
                       has_source=bool(with_source), num_events=len(event_names),
                       extras={**{key: int(rows.shape[-1]) for key, rows in {**extra_rows, **extra_text_rows}.items()},
                               **{f"{name}_pooled": text_dim for name in sorted(item_texts or {})}})
    return FeatureSplits(train=tables["train"], validation=tables["validation"], test=tables["test"], dims=dims,
                         encoders={"text": text_encoder.identity, "image": image_encoder.identity,
                                   **{f"image_{name}": enc.identity
                                      for name, enc in sorted((extra_image_encoders or {}).items())},
                                   **{f"text_{name}": enc.identity
                                      for name, enc in sorted((extra_text_encoders or {}).items())}})
