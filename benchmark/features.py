"""Per-split feature tables and batch assembly.

Many posts share one image (388 unique images for 15,629 MediaEval dev tweets) or one text (retweets),
so features are stored once per unique content and gathered by index when a batch is built.

Batch keys (the contract between the harness and every model):
  text_tokens (B, L, Dt) float, text_mask (B, L) bool, text_pooled (B, Dt)
  image_regions (B, R, Dv) float, image_pooled (B, Dv), has_image (B,) bool
  source_text_tokens / source_text_mask / source_text_pooled / source_image_regions /
  source_image_pooled / has_source   -- background knowledge (zeros and False where absent)
  label (B,) long (1 = fake), event (B,) long (-1 = unknown), emotion (B,) long (-1 = unknown),
  index (B,) long: row of the item in its split (for per-item predictions)
  image_row (B,) long, with image_regions: the row of the item's image in the table of unique images
    (equal rows = identical image bytes; items without an image share the null row). Models use it to
    run image layers once per distinct image in a batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

TEXT_KEYS = ("text_tokens", "text_mask", "text_pooled")
IMAGE_KEYS = ("image_regions", "image_pooled")
SOURCE_KEYS = tuple("source_" + k for k in TEXT_KEYS + IMAGE_KEYS)


@dataclass(frozen=True)
class FeatureDims:
    """Shapes a model needs to build its layers."""

    text_dim: int
    image_dim: int
    text_len: int
    image_regions: int
    has_source: bool = False
    num_events: int = 0
    # batch key -> width of the optional inputs present (extra encoders, per-item texts), e.g.
    # {"image_ela": 3, "text_clip": 512}; models build the layers for those they can use
    extras: dict[str, int] = field(default_factory=dict)


@dataclass
class FeatureTable:
    """Features of one split. ``shared`` holds (unique_rows, index) pairs gathered per batch."""

    item_ids: list[str]
    labels: torch.Tensor
    events: torch.Tensor
    columns: dict[str, torch.Tensor] = field(default_factory=dict)
    shared: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.item_ids)

    def keys(self) -> set[str]:
        derived = {"image_regions_unique"} if "image_regions" in self.columns or "image_regions" in self.shared else set()
        return set(self.columns) | set(self.shared) | {"label", "event", "index"} | derived

    def get(self, key: str) -> torch.Tensor:
        """The full (N, ...) column for ``key`` (materialised from shared storage if needed)."""
        if key in self.columns:
            return self.columns[key]
        if key in self.shared:
            rows, index = self.shared[key]
            return rows[index]
        if key == "label":
            return self.labels
        if key == "event":
            return self.events
        raise KeyError(f"feature {key!r} not in this table (has: {sorted(self.keys())})")

    def batch(self, idx: torch.Tensor, keys: set[str] | None = None, device: torch.device | str = "cpu",
              ) -> dict[str, torch.Tensor]:
        """Gather rows ``idx``; floats are cast to float32 on ``device``.

        ``image_regions_unique`` (asked for by name) gives each distinct image of the batch once,
        (U, R, D), with ``image_row_inverse`` (B,) such that ``image_regions == unique[inverse]``: a
        model that computes per image (COOLANT) then never gathers and casts the B copies (about 38
        distinct images in a MediaEval batch of 64)."""
        out: dict[str, torch.Tensor] = {"label": self.labels[idx], "event": self.events[idx], "index": idx}
        wanted = self.keys() if keys is None else (set(keys) | {"label", "event", "index"})
        for key, value in self.columns.items():
            if key in wanted:
                out[key] = value[idx]
        for key, (rows, index) in self.shared.items():
            if key in wanted:
                out[key] = rows[index[idx]]
        if ("image_regions" in wanted or "image_regions_unique" in wanted) and "image_regions" in self.shared:
            out["image_row"] = self.shared["image_regions"][1][idx]  # same row = same image bytes
        if "image_regions_unique" in wanted:
            if "image_regions" in self.shared:
                unique, inverse = torch.unique(out["image_row"], return_inverse=True)
                out["image_regions_unique"] = self.shared["image_regions"][0][unique]
            else:  # stored per item: every item is its own row
                out["image_regions_unique"] = self.columns["image_regions"][idx]
                inverse = torch.arange(len(idx))
            out["image_row_inverse"] = inverse
        return {k: (v.float() if v.is_floating_point() else v).to(device) for k, v in out.items()}

    def concat(self, other: "FeatureTable") -> "FeatureTable":
        """This table's items followed by ``other``'s (same columns); shared rows are stacked and re-indexed
        (kept once when both tables point at the same rows tensor)."""
        if set(self.columns) != set(other.columns) or set(self.shared) != set(other.shared):
            raise ValueError(f"cannot concatenate feature tables with columns {sorted(self.columns)} + "
                             f"{sorted(self.shared)} and {sorted(other.columns)} + {sorted(other.shared)}")
        shared = {}
        for key, (rows, index) in self.shared.items():
            o_rows, o_index = other.shared[key]
            if o_rows is rows:
                shared[key] = (rows, torch.cat([index, o_index]))
            else:
                shared[key] = (torch.cat([rows, o_rows]), torch.cat([index, o_index + rows.shape[0]]))
        return FeatureTable(item_ids=[*self.item_ids, *other.item_ids], labels=torch.cat([self.labels, other.labels]),
                            events=torch.cat([self.events, other.events]),
                            columns={k: torch.cat([v, other.columns[k]]) for k, v in self.columns.items()},
                            shared=shared)

    def subset(self, idx: torch.Tensor) -> "FeatureTable":
        return FeatureTable(
            item_ids=[self.item_ids[i] for i in idx.tolist()],
            labels=self.labels[idx], events=self.events[idx],
            columns={k: v[idx] for k, v in self.columns.items()},
            shared={k: (rows, index[idx]) for k, (rows, index) in self.shared.items()},
        )


@dataclass
class FeatureSplits:
    train: FeatureTable
    validation: FeatureTable
    test: FeatureTable
    dims: FeatureDims
    encoders: dict[str, str] = field(default_factory=dict)  # role -> encoder identity

    def split(self, name: str) -> FeatureTable:
        return getattr(self, name)

    def content_fingerprint(self) -> str:
        """sha256 (16 hex) of every split's item ids, labels, events and feature tensors, bit for bit.

        Why: the feature cache is keyed by the encoders' identities, but the features themselves depend
        on the machine that computed them: the same encoder on another CPU type or another torch thread
        count gives values that differ in the last bits (measured: MiniLM in bf16, 14% of the stored
        values differ between 1 and 2 threads), and a training run amplifies that into different
        per-seed scores. Cells carry this fingerprint (tag ``features_fingerprint``), so a report can
        say whether two runs trained on identical inputs. A shared rows tensor is hashed once."""
        digest = hashlib.sha256()
        seen: dict[int, bytes] = {}

        def tensor(value: torch.Tensor) -> None:
            if id(value) not in seen:
                flat = value.detach().cpu().contiguous().reshape(-1)
                part = hashlib.sha256(f"{value.dtype}{tuple(value.shape)}".encode())
                part.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
                seen[id(value)] = part.digest()
            digest.update(seen[id(value)])

        for name in ("train", "validation", "test"):
            table = self.split(name)
            digest.update(f"|{name}|{len(table)}|".encode() + "\x1f".join(table.item_ids).encode())
            tensor(table.labels)
            tensor(table.events)
            for key in sorted(table.columns):
                digest.update(f"|column {key}|".encode())
                tensor(table.columns[key])
            for key in sorted(table.shared):
                digest.update(f"|shared {key}|".encode())
                rows, index = table.shared[key]
                tensor(rows)
                tensor(index)
        return digest.hexdigest()[:16]
