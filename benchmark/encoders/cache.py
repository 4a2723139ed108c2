"""On-disk feature cache: each unique text / image is encoded once per encoder identity, then reused.

Why: frozen encoders dominate the cost of a suite (every model x variant x seed reads the same
features), and many posts share one image or one text. Features are therefore keyed by
(encoder identity, content key), where the content key is the sha1 of the text (utf-8) or of the
image file's bytes, so the same picture under two paths is encoded once and a changed encoder
(weights, preprocessing, max length) can never serve stale features.

Layout: ``root/<sha1(identity)[:16]>/`` holds ``identity.txt`` (the full identity, checked on use)
and ``shard-<uuid>.pt`` files, each one ``torch.save`` of a batch of newly computed rows with their
content keys. There is no separate index file: the index (key -> shard, row) is rebuilt from the
shards' key lists on first use (shards are memory-mapped, so only touched rows are read). Several
processes may fill the same cache concurrently; at worst an item is encoded twice and the duplicate
row is ignored. Shards are written to a temporary name and moved into place with ``os.replace``, so
a killed process never leaves a half-written shard behind.

Integrity: a shard's name carries the sha256 of its bytes (``shard-<uuid>.<sha256[:32]>.pt``), checked
when the shard is first read; a corrupt or unreadable shard is deleted with a warning and its items are
encoded again (flipped bytes inside a tensor would otherwise load as NaN features without a word).
Temporaries older than ``STALE_TMP_SECONDS`` (left by a killed writer) are removed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from PIL import Image
from tqdm import tqdm

from benchmark.data.schema import DataError
from benchmark.encoders.base import ImageEncoder, ImageFeatures, TextEncoder, TextFeatures

log = logging.getLogger(__name__)

_SHARD_PREFIX = "shard-"
_SHARD_SUFFIX = ".pt"
_FILE_HASH_MEMO: dict[tuple[str, int, int], str] = {}
_CHECKSUM_CHARS = 32
STALE_TMP_SECONDS = 3600  # a shard write takes seconds; an hour-old temporary belongs to a dead writer


def sha1_text(text: str) -> str:
    """Content key of a text: sha1 of its utf-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def sha1_file(path: Path | str) -> str:
    """sha1 of a file's bytes, memoised per (resolved path, size, mtime) for the process lifetime."""
    p = Path(path)
    try:
        st = p.stat()
        memo_key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError as exc:
        raise DataError(f"{p}: cannot read file ({exc.strerror or exc}); check the path exists") from exc
    cached = _FILE_HASH_MEMO.get(memo_key)
    if cached is not None:
        return cached
    digest = hashlib.sha1()
    with p.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    _FILE_HASH_MEMO[memo_key] = value
    return value


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def shard_checksum(name: str) -> str | None:
    """The checksum a shard's file name declares, or None for shards written before checksums."""
    stem = name[len(_SHARD_PREFIX):-len(_SHARD_SUFFIX)]
    return stem.split(".", 1)[1] if "." in stem else None


def default_open_image(path: Path) -> Image.Image:
    """Open an image through the data layer (``benchmark.data.images.open_image``): RGB or DataError."""
    from benchmark.data.images import open_image  # imported late: the data layer is optional here

    return open_image(path)


def _batches(seq: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


@dataclass
class _Store:
    """The loaded state of one identity directory."""

    directory: Path
    index: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (shard name, row)
    shards: dict[str, dict[str, object]] = field(default_factory=dict)  # shard name -> payload


class FeatureCache:
    """Features on disk keyed by (encoder identity, content key); computes only what is missing.

    ``shard_rows`` bounds how many newly encoded rows go into one shard file (progress is kept if a
    long run is interrupted). ``open_image`` turns a path into an RGB PIL image (default: the data
    layer's ``open_image``, which raises ``DataError`` naming the file).
    """

    def __init__(self, root: Path | str, *, text_shard_rows: int = 2048, image_shard_rows: int = 512,
                 open_image: Callable[[Path], Image.Image] | None = None) -> None:
        self.root = Path(root)
        self.text_shard_rows = int(text_shard_rows)
        self.image_shard_rows = int(image_shard_rows)
        self.open_image = open_image or default_open_image
        self._stores: dict[str, _Store] = {}

    # ------------------------------------------------------------------ storage
    def directory_for(self, identity: str) -> Path:
        """Folder holding the shards of one encoder identity."""
        return self.root / hashlib.sha1(identity.encode("utf-8")).hexdigest()[:16]

    def _store(self, identity: str) -> _Store:
        store = self._stores.get(identity)
        if store is None:
            directory = self.directory_for(identity)
            directory.mkdir(parents=True, exist_ok=True)
            ident_file = directory / "identity.txt"
            if ident_file.exists():
                on_disk = ident_file.read_text(encoding="utf-8")
                if on_disk != identity:
                    raise RuntimeError(
                        f"{ident_file}: holds features of {on_disk!r}, not {identity!r} (hash prefix "
                        f"collision or a hand-edited cache); delete {directory} to rebuild it")
            else:
                self._atomic_write_text(ident_file, identity)
            self._remove_stale_temporaries(directory)
            store = _Store(directory=directory)
            self._stores[identity] = store
        self._scan(store)
        return store

    @staticmethod
    def _remove_stale_temporaries(directory: Path) -> None:
        now = time.time()
        for tmp in directory.glob(".*.tmp"):
            try:
                if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                    tmp.unlink()
                    log.info("%s: removed a temporary left by a killed writer", tmp)
            except FileNotFoundError:
                pass  # another process cleaned it up first

    def _scan(self, store: _Store) -> None:
        """Add shards written since the last scan (by this or another process) to the index; a shard
        whose bytes do not match its checksum, or that cannot be read, is deleted (its items are
        encoded again when asked for)."""
        for path in sorted(store.directory.glob(f"{_SHARD_PREFIX}*{_SHARD_SUFFIX}")):
            if path.name in store.shards:
                continue
            expected = shard_checksum(path.name)
            try:
                if expected is not None and sha256_file(path)[:_CHECKSUM_CHARS] != expected:
                    raise ValueError("its bytes do not match the checksum in its name (corrupted on disk)")
                payload = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
                keys = list(payload["keys"])
            except FileNotFoundError:
                continue  # deleted by another process between the listing and the read
            except Exception as exc:  # a bad shard must not take the cache down, nor serve bad features
                log.warning("%s: corrupt feature shard deleted (%s); its items will be encoded again", path, exc)
                path.unlink(missing_ok=True)
                continue
            self._add_shard(store, path.name, payload, keys)

    @staticmethod
    def _add_shard(store: _Store, name: str, payload: dict[str, object], keys: list[str]) -> None:
        store.shards[name] = payload
        for row, key in enumerate(keys):
            store.index.setdefault(key, (name, row))

    @staticmethod
    def _atomic_write_text(path: Path, text: str) -> None:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def _write_shard(self, store: _Store, payload: dict[str, object]) -> None:
        stem = f"{_SHARD_PREFIX}{uuid.uuid4().hex}"
        tmp = store.directory / f".{stem}{_SHARD_SUFFIX}.tmp"
        try:
            with tmp.open("wb") as handle:
                torch.save(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            name = f"{stem}.{sha256_file(tmp)[:_CHECKSUM_CHARS]}{_SHARD_SUFFIX}"
            final = store.directory / name
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        # re-open memory-mapped so freshly computed rows do not stay resident beside the caller's copy
        mapped = torch.load(final, map_location="cpu", mmap=True, weights_only=True)
        self._add_shard(store, name, mapped, list(mapped["keys"]))
        log.debug("wrote %s (%d rows)", final, len(payload["keys"]))  # type: ignore[arg-type]

    def _gather(self, store: _Store, keys: Sequence[str], field_name: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """For each shard: (positions in ``keys``, that shard's rows of ``field_name``)."""
        by_shard: dict[str, tuple[list[int], list[int]]] = {}
        for pos, key in enumerate(keys):
            shard, row = store.index[key]
            positions, rows = by_shard.setdefault(shard, ([], []))
            positions.append(pos)
            rows.append(row)
        out = []
        for shard, (positions, rows) in by_shard.items():
            tensor = store.shards[shard][field_name]
            out.append((torch.tensor(positions, dtype=torch.long),
                        tensor[torch.tensor(rows, dtype=torch.long)]))  # type: ignore[index]
        return out

    def count(self, identity: str) -> int:
        """How many unique items are cached for ``identity``."""
        return len(self._store(identity).index)

    # ------------------------------------------------------------------ texts
    def get_text(self, encoder: TextEncoder, texts: Sequence[str], batch_size: int = 64,
                 desc: str | None = None) -> TextFeatures:
        """Features of ``texts`` (rows aligned with the input); encodes only texts not cached yet.

        Tokens come back padded to ``encoder.max_length``: (N, max_length, D) float16.
        """
        identity = encoder.identity
        store = self._store(identity)
        keys = [sha1_text(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in store.index and key not in missing:
                missing[key] = text
        if missing:
            # shortest first by the encoder's own token count: batches of similar length pad least
            pending = list(missing.items())
            lengths = encoder.token_counts([text for _, text in pending])
            todo = [kv for _, kv in sorted(zip(lengths, pending), key=lambda pair: pair[0])]
            log.info("encoding %d new texts with %s (%d cached)", len(todo), encoder.name, len(texts) - len(todo))
            bar = tqdm(total=len(todo), desc=desc or f"encode texts [{encoder.name}]", unit="text")
            try:
                for chunk in _batches(todo, self.text_shard_rows):
                    parts = []
                    for batch in _batches(chunk, batch_size):
                        parts.append(encoder.encode([text for _, text in batch]))
                        bar.update(len(batch))
                    self._write_shard(store, self._text_payload([k for k, _ in chunk], parts))
            finally:
                bar.close()
        length = int(encoder.max_length)
        n = len(texts)
        if n == 0:
            dim = int(encoder.dim)
            return TextFeatures(tokens=torch.zeros(0, length, dim, dtype=torch.float16),
                                mask=torch.zeros(0, length, dtype=torch.bool),
                                pooled=torch.zeros(0, dim, dtype=torch.float32))
        pooled_parts = self._gather(store, keys, "pooled")
        dim = pooled_parts[0][1].shape[-1]
        tokens = torch.zeros(n, length, dim, dtype=torch.float16)
        mask = torch.zeros(n, length, dtype=torch.bool)
        pooled = torch.zeros(n, dim, dtype=torch.float32)
        for pos, rows in pooled_parts:
            pooled[pos] = rows.float()
        for pos, rows in self._gather(store, keys, "tokens"):
            tokens[pos, :rows.shape[1]] = rows.to(torch.float16)
        for pos, rows in self._gather(store, keys, "mask"):
            mask[pos, :rows.shape[1]] = rows.bool()
        return TextFeatures(tokens=tokens, mask=mask, pooled=pooled)

    @staticmethod
    def _text_payload(keys: list[str], parts: list[TextFeatures]) -> dict[str, object]:
        """One shard: token states trimmed to the longest real sequence in it (saves disk)."""
        real = max(int(p.mask.sum(dim=1).max()) if p.mask.numel() else 0 for p in parts)
        real = max(real, 1)
        tokens = torch.cat([p.tokens[:, :real].to(torch.float16) for p in parts])
        mask = torch.cat([p.mask[:, :real].bool() for p in parts])
        pooled = torch.cat([p.pooled.float() for p in parts])
        if tokens.shape[0] != len(keys):
            raise RuntimeError(f"text encoder returned {tokens.shape[0]} rows for {len(keys)} texts")
        return {"keys": keys, "tokens": tokens.contiguous(), "mask": mask.contiguous(), "pooled": pooled.contiguous()}

    # ------------------------------------------------------------------ images
    def image_key(self, path: Path | str) -> str:
        """Content key of an image file (sha1 of its bytes, memoised)."""
        return sha1_file(path)

    def get_images(self, encoder: ImageEncoder, paths: Sequence[Path | str], batch_size: int = 4,
                   keys: Sequence[str] | None = None, desc: str | None = None) -> ImageFeatures:
        """Features of the images at ``paths`` (rows aligned with the input).

        Identical files (same bytes) are encoded once. ``keys`` may pass precomputed content keys.
        """
        identity = encoder.identity
        store = self._store(identity)
        paths = [Path(p) for p in paths]
        if keys is None:
            keys = [self.image_key(p) for p in paths]
        elif len(keys) != len(paths):
            raise ValueError(f"get_images: {len(keys)} keys for {len(paths)} paths")
        missing: dict[str, Path] = {}
        for key, path in zip(keys, paths):
            if key not in store.index and key not in missing:
                missing[key] = path
        if missing:
            todo = list(missing.items())
            log.info("encoding %d new images with %s (%d cached)", len(todo), encoder.name, len(paths) - len(todo))
            bar = tqdm(total=len(todo), desc=desc or f"encode images [{encoder.name}]", unit="img")
            try:
                for chunk in _batches(todo, self.image_shard_rows):
                    parts = []
                    for batch in _batches(chunk, batch_size):
                        images = [self.open_image(path) for _, path in batch]
                        parts.append(encoder.encode(images))
                        for image in images:
                            image.close()
                        bar.update(len(batch))
                    regions = torch.cat([p.regions.to(torch.float16) for p in parts])
                    pooled = torch.cat([p.pooled.float() for p in parts])
                    if regions.shape[0] != len(chunk):
                        raise RuntimeError(f"image encoder returned {regions.shape[0]} rows for {len(chunk)} images")
                    self._write_shard(store, {"keys": [k for k, _ in chunk], "regions": regions.contiguous(),
                                              "pooled": pooled.contiguous()})
            finally:
                bar.close()
        n = len(paths)
        if n == 0:
            dim, regions_n = int(encoder.dim), int(encoder.regions)
            return ImageFeatures(regions=torch.zeros(0, regions_n, dim, dtype=torch.float16),
                                 pooled=torch.zeros(0, dim, dtype=torch.float32))
        pooled_parts = self._gather(store, keys, "pooled")
        region_parts = self._gather(store, keys, "regions")
        dim = pooled_parts[0][1].shape[-1]
        regions_n = region_parts[0][1].shape[1]
        regions_out = torch.zeros(n, regions_n, dim, dtype=torch.float16)
        pooled_out = torch.zeros(n, dim, dtype=torch.float32)
        for pos, rows in pooled_parts:
            pooled_out[pos] = rows.float()
        for pos, rows in region_parts:
            regions_out[pos] = rows.to(torch.float16)
        return ImageFeatures(regions=regions_out, pooled=pooled_out)
