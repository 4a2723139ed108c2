"""The feature cache (encode each unique content once, on disk, per encoder identity) and featurisation.

Light, deterministic stand-in encoders count what they are asked to encode, so the tests can check
that a second call encodes nothing and that identical images under two paths are encoded once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.data.schema import DataError, DatasetSplits, NewsItem
from benchmark.encoders.base import ImageEncoder, ImageFeatures, TextEncoder, TextFeatures
from benchmark.encoders.cache import FeatureCache, sha1_text
from benchmark.encoders.featurize import build_feature_splits
from benchmark.features import SOURCE_KEYS

os.environ.setdefault("TQDM_DISABLE", "1")


def _word_vector(word: str, dim: int) -> torch.Tensor:
    digest = hashlib.sha1(word.encode("utf-8")).digest()
    return torch.tensor([b / 255.0 for b in digest[:dim]])


class CountingText(TextEncoder):
    """Tokens = one hashed vector per word; pooled = their mean. Counts encoded texts."""

    name = "counting-text"
    dim = 4

    def __init__(self, max_length: int = 6, version: str = "v1") -> None:
        self.max_length = max_length
        self.version = version
        self.calls = 0
        self.seen: list[str] = []

    @property
    def identity(self) -> str:
        return f"text:counting|{self.version}|max_length={self.max_length}"

    def encode(self, texts: list[str]) -> TextFeatures:
        self.calls += 1
        self.seen.extend(texts)
        n = len(texts)
        tokens = torch.zeros(n, self.max_length, self.dim, dtype=torch.float16)
        mask = torch.zeros(n, self.max_length, dtype=torch.bool)
        pooled = torch.zeros(n, self.dim)
        for i, text in enumerate(texts):
            words = (["<s>"] + text.split())[: self.max_length]
            vecs = torch.stack([_word_vector(w, self.dim) for w in words])
            tokens[i, : len(words)] = vecs.half()
            mask[i, : len(words)] = True
            pooled[i] = vecs.mean(0)
        return TextFeatures(tokens=tokens, mask=mask, pooled=pooled)


class CountingImage(ImageEncoder):
    """Regions = mean colour of each quadrant (4 regions x 3 channels); pooled = their mean."""

    name = "counting-image"
    dim = 3
    regions = 4

    def __init__(self, version: str = "v1") -> None:
        self.version = version
        self.calls = 0
        self.encoded = 0

    @property
    def identity(self) -> str:
        return f"image:counting|{self.version}"

    def encode(self, images: list[Image.Image]) -> ImageFeatures:
        self.calls += 1
        self.encoded += len(images)
        rows = []
        for img in images:
            x = np.asarray(img.resize((2, 2)), dtype=np.float32).reshape(4, 3) / 255.0  # quadrant colours
            rows.append(torch.from_numpy(x))
        regions = torch.stack(rows)
        return ImageFeatures(regions=regions.half(), pooled=regions.mean(1))


def write_image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


# ---------------------------------------------------------------- cache: texts
def test_text_cache_second_call_encodes_nothing_and_rows_follow_input(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "cache", text_shard_rows=2)
    enc = CountingText()
    texts = ["fake news here", "a b", "fake news here", "one two three four five six seven", ""]
    first = cache.get_text(enc, texts, batch_size=2)
    assert sorted(enc.seen) == sorted(set(texts))  # each unique text once
    direct = enc.encode(texts)
    torch.testing.assert_close(first.pooled, direct.pooled)
    torch.testing.assert_close(first.tokens, direct.tokens)
    assert torch.equal(first.mask, direct.mask)
    assert first.tokens.shape == (5, 6, 4)

    enc.calls, enc.seen = 0, []
    again = FeatureCache(tmp_path / "cache").get_text(enc, list(reversed(texts)))  # fresh process view
    assert enc.calls == 0
    torch.testing.assert_close(again.pooled, first.pooled.flip(0))
    assert torch.equal(again.mask, first.mask.flip(0))

    # only the new text is encoded; shards are several files, not one per item
    cache.get_text(enc, texts + ["brand new"])
    assert enc.seen == ["brand new"]
    shards = list(cache.directory_for(enc.identity).glob("shard-*.pt"))
    assert 2 <= len(shards) < 5
    assert cache.count(enc.identity) == 5


def test_text_cache_separates_identities(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    a, b = CountingText(version="v1"), CountingText(version="v2")
    cache.get_text(a, ["x y"])
    cache.get_text(b, ["x y"])
    assert a.calls == 1 and b.calls == 1
    assert cache.directory_for(a.identity) != cache.directory_for(b.identity)
    assert (cache.directory_for(a.identity) / "identity.txt").read_text() == a.identity
    short = CountingText(max_length=2)
    feats = cache.get_text(short, ["x y"])
    assert short.calls == 1 and feats.tokens.shape == (1, 2, 4)


def test_text_cache_ignores_leftover_temp_and_corrupt_shards(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    enc = CountingText()
    cache.get_text(enc, ["alpha", "beta"])
    directory = cache.directory_for(enc.identity)
    (directory / ".shard-dead.pt.tmp").write_bytes(b"half written")
    (directory / "shard-broken.pt").write_bytes(b"not a torch file")
    enc.calls = 0
    feats = FeatureCache(tmp_path).get_text(enc, ["beta", "alpha", "gamma"])
    assert enc.seen[-1:] == ["gamma"] and enc.calls == 1
    torch.testing.assert_close(feats.pooled[:2], enc.encode(["beta", "alpha"]).pooled)
    # the broken shard is skipped, and the new shard was moved into place (no new temp files)
    assert sorted(p.name for p in directory.glob(".*.tmp")) == [".shard-dead.pt.tmp"]


def test_text_content_key_is_sha1_of_utf8() -> None:
    assert sha1_text("Überraschung") == hashlib.sha1("Überraschung".encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- cache: images
def test_image_cache_dedups_by_content_and_keeps_order(tmp_path: Path) -> None:
    red = write_image(tmp_path / "img" / "red.png", (255, 0, 0))
    red_copy = tmp_path / "img" / "copy_of_red.png"
    red_copy.write_bytes(red.read_bytes())
    blue = write_image(tmp_path / "img" / "blue.png", (0, 0, 255))
    cache = FeatureCache(tmp_path / "cache")
    enc = CountingImage()
    feats = cache.get_images(enc, [blue, red, red_copy, blue], batch_size=1)
    assert enc.encoded == 2  # red and its byte-identical copy encode once
    assert feats.regions.shape == (4, 4, 3) and feats.regions.dtype == torch.float16
    torch.testing.assert_close(feats.pooled[0], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(feats.pooled[1], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(feats.pooled[1], feats.pooled[2])
    torch.testing.assert_close(feats.pooled[3], feats.pooled[0])

    again = FeatureCache(tmp_path / "cache").get_images(enc, [red_copy, blue])
    assert enc.encoded == 2
    torch.testing.assert_close(again.pooled, feats.pooled[[2, 0]])
    other = CountingImage(version="v2")
    cache.get_images(other, [red])
    assert other.encoded == 1  # another identity has its own entries


def test_image_cache_unreadable_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(DataError, match="broken.jpg"):
        FeatureCache(tmp_path / "cache").get_images(CountingImage(), [bad])
    with pytest.raises(DataError, match="missing.jpg"):
        FeatureCache(tmp_path / "cache").get_images(CountingImage(), [tmp_path / "missing.jpg"])


# ---------------------------------------------------------------- featurize
@pytest.fixture()
def tiny_dataset(tmp_path: Path) -> DatasetSplits:
    img = tmp_path / "images"
    red = write_image(img / "red.jpg", (250, 10, 10))
    red_again = img / "red_again.jpg"
    red_again.write_bytes(red.read_bytes())
    blue = write_image(img / "blue.png", (10, 10, 250))
    green = write_image(img / "green.png", (10, 250, 10))
    item = NewsItem
    train = [
        item("a", "flood hits town", (red,), 1, event="storm", emotion=0),
        item("b", "flood hits town", (red_again,), 0, event="storm"),
        item("c", "no picture here", (), 1, event="election", emotion=1),
    ]
    validation = [item("d", "blue sky", (blue,), 0, event="election")]
    test = [item("e", "no picture here", (red,), 1),
            item("f", "green field", (green, blue), 0, event="storm")]
    return DatasetSplits(name="tiny", train=train, validation=validation, test=test)


def test_featurize_shapes_sharing_and_blank_images(tiny_dataset: DatasetSplits, tmp_path: Path) -> None:
    text_enc, image_enc = CountingText(), CountingImage()
    fs = build_feature_splits(tiny_dataset, text_enc, image_enc, FeatureCache(tmp_path / "cache"))
    assert sorted(text_enc.seen) == ["blue sky", "flood hits town", "green field", "no picture here"]
    assert image_enc.encoded == 3  # red (two paths, identical bytes), blue, green
    assert fs.dims.text_dim == 4 and fs.dims.image_dim == 3 and fs.dims.text_len == 6
    assert fs.dims.image_regions == 4 and fs.dims.num_events == 2 and not fs.dims.has_source
    assert fs.encoders == {"text": text_enc.identity, "image": image_enc.identity}

    train = fs.train
    assert train.item_ids == ["a", "b", "c"] and train.labels.tolist() == [1, 0, 1]
    assert train.events.tolist() == [1, 1, 0]  # sorted codes: election=0, storm=1
    assert fs.test.events.tolist() == [-1, 1]
    assert train.columns["emotion"].tolist() == [0, -1, 1]
    assert train.columns["has_image"].tolist() == [True, True, False]
    assert fs.test.columns["has_image"].tolist() == [True, True]
    assert not any(k.startswith("source_") for k in train.keys()) and "has_source" not in train.keys()

    rows, index = train.shared["image_regions"]
    assert index[0] == index[1] and index[2] != index[0]  # a and b share the red image row
    assert fs.test.shared["image_regions"][1][0] == index[0]  # so does e, in another split
    assert rows.shape[0] == 4  # 3 unique images + the blank row
    t_rows, t_index = train.shared["text_tokens"]
    assert t_index[0] == t_index[1] and t_rows.shape[0] == 5  # 4 unique texts + the null row
    assert fs.test.shared["text_pooled"][1][0] == train.shared["text_pooled"][1][2]  # same text c / e

    batch = train.batch(torch.arange(3))
    assert batch["text_tokens"].shape == (3, 6, 4) and batch["text_mask"].dtype == torch.bool
    assert batch["image_regions"].shape == (3, 4, 3) and batch["image_pooled"].shape == (3, 3)
    assert not batch["image_regions"][2].any() and not batch["image_pooled"][2].any()
    torch.testing.assert_close(batch["image_pooled"][0], torch.tensor([250, 10, 10]) / 255.0, atol=0.03, rtol=0)
    torch.testing.assert_close(batch["text_pooled"][0], text_enc.encode(["flood hits town"]).pooled[0])
    f_pooled = fs.test.batch(torch.tensor([1]))["image_pooled"][0]  # f uses its first image (green)
    torch.testing.assert_close(f_pooled, torch.tensor([10, 250, 10]) / 255.0, atol=0.03, rtol=0)

    # a second build reuses the cache completely
    text2, image2 = CountingText(), CountingImage()
    build_feature_splits(tiny_dataset, text2, image2, FeatureCache(tmp_path / "cache"))
    assert text2.calls == 0 and image2.calls == 0


def test_featurize_background_knowledge(tmp_path: Path) -> None:
    src_img = write_image(tmp_path / "src.png", (0, 0, 0))
    post_img = write_image(tmp_path / "post.png", (255, 255, 255))
    train = [NewsItem("a", "claim one", (post_img,), 1, source_text="article about one",
                      source_image_paths=(src_img,)),
             NewsItem("b", "claim two", (), 0, source_text="claim one"),  # source text == a's post text
             NewsItem("c", "claim three", (post_img,), 0)]
    splits = DatasetSplits(name="bk", train=train, validation=[train[0]], test=[train[2]])
    text_enc, image_enc = CountingText(), CountingImage()
    fs = build_feature_splits(splits, text_enc, image_enc, FeatureCache(tmp_path / "cache"))
    assert fs.dims.has_source
    assert sorted(text_enc.seen) == ["article about one", "claim one", "claim three", "claim two"]
    table = fs.train
    assert set(SOURCE_KEYS) <= table.keys() and "has_source" in table.keys()
    assert table.columns["has_source"].tolist() == [True, True, False]
    b = table.batch(torch.arange(3))
    assert b["source_text_tokens"].shape == (3, 6, 4) and b["source_image_regions"].shape == (3, 4, 3)
    torch.testing.assert_close(b["source_text_pooled"][1], b["text_pooled"][0])  # shared row
    assert not b["source_text_pooled"][2].any() and not b["source_text_tokens"][2].any()
    assert b["source_text_mask"][2].tolist() == [True] + [False] * 5  # null token, never all-False
    assert not b["source_image_pooled"][1].any() and not b["source_image_pooled"][2].any()
    assert b["source_image_pooled"][0].abs().sum() < 0.05  # the black source image
    assert image_enc.encoded == 2

    off = build_feature_splits(splits, CountingText(), CountingImage(), FeatureCache(tmp_path / "cache"),
                               with_source=False)
    assert not off.dims.has_source and "has_source" not in off.train.keys()


def test_featurize_missing_image_names_item_and_split(tiny_dataset: DatasetSplits, tmp_path: Path) -> None:
    tiny_dataset.validation.append(NewsItem("ghost", "where is it", (tmp_path / "gone.jpg",), 1))
    with pytest.raises(DataError, match=r"validation item 'ghost'.*gone\.jpg"):
        build_feature_splits(tiny_dataset, CountingText(), CountingImage(), FeatureCache(tmp_path / "cache"))


class WordCountText(CountingText):
    """Counts words as tokens, so token order differs from character order."""

    def token_counts(self, texts: list[str]) -> list[int]:
        return [1 + len(t.split()) for t in texts]


def test_text_cache_batches_by_the_encoders_token_count_not_characters(tmp_path: Path) -> None:
    enc = WordCountText()
    texts = ["a b c d e", "supercalifragilistic", "x y"]  # chars: 9, 20, 3; tokens: 6, 2, 3
    out = FeatureCache(tmp_path / "c").get_text(enc, texts, batch_size=1)
    assert enc.seen == ["supercalifragilistic", "x y", "a b c d e"]
    torch.testing.assert_close(out.pooled, enc.encode(texts).pooled)  # rows still follow the input


def test_minilm_token_counts_match_its_attention_mask() -> None:
    from benchmark.encoders.minilm import MiniLMTextEncoder
    enc = MiniLMTextEncoder(max_length=16)
    texts = ["short", "a much longer sentence with quite a few more words in it than the other", ""]
    counts = enc.token_counts(texts)
    assert counts == enc.encode(texts).mask.sum(dim=1).tolist()
    assert counts[1] == 16  # truncated at max_length, like encode


def test_a_writer_killed_mid_shard_leaves_nothing_a_reader_could_load(tmp_path: Path, monkeypatch) -> None:
    """Caches on shared storage are read by other hosts while being written: a shard is visible only
    under its final name, after its bytes are complete (temporary name, fsync, ``os.replace``)."""
    import benchmark.encoders.cache as cache_module
    enc = CountingText()
    real_save = torch.save

    def dies_half_way(obj, handle) -> None:
        handle.write(b"PK\x03\x04 half a shard")
        raise KeyboardInterrupt  # the writer is killed inside the write

    monkeypatch.setattr(cache_module.torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        FeatureCache(tmp_path).get_text(enc, ["alpha", "beta"])
    directory = FeatureCache(tmp_path).directory_for(enc.identity)
    assert list(directory.glob("shard-*")) == [] and list(directory.glob(".*.tmp")) == []
    renames: list[tuple[str, str]] = []
    real_replace = os.replace
    monkeypatch.setattr(cache_module.torch, "save", real_save)
    monkeypatch.setattr(cache_module.os, "replace",
                        lambda a, b: (renames.append((Path(a).name, Path(b).name)), real_replace(a, b))[1])
    enc.calls = 0
    feats = FeatureCache(tmp_path).get_text(enc, ["alpha", "beta"])  # another process: encodes them afresh
    assert enc.calls == 1 and feats.pooled.shape[0] == 2
    shards = [p.name for p in directory.glob("shard-*.pt")]
    assert len(shards) == 1 and renames == [(renames[0][0], shards[0])] and renames[0][0].endswith(".tmp")


def test_featurize_extra_text_encoders_and_per_item_texts(tiny_dataset: DatasetSplits, tmp_path: Path) -> None:
    """--clip-path's text tower (an extra per-text encoder) and --entity-file's texts (one more text per
    item, encoded by the main encoder): their batch keys, null rows, widths and identities."""
    text_enc, extra = CountingText(), CountingText(version="clip-like")
    entities = {"entities": {"a": "Flood Town", "e": "Flood Town", "f": "Green Field"}, "concepts": {"a": "disaster"}}
    fs = build_feature_splits(tiny_dataset, text_enc, CountingImage(), FeatureCache(tmp_path / "cache"),
                              extra_text_encoders={"clip": extra}, item_texts=entities)
    assert fs.dims.extras == {"text_clip": 4, "entities_pooled": 4, "concepts_pooled": 4}
    assert fs.encoders["text_clip"] == extra.identity
    assert "Flood Town" in text_enc.seen and "disaster" in text_enc.seen

    train = fs.train.batch(torch.arange(3))
    torch.testing.assert_close(train["text_clip"][0], extra.encode(["flood hits town"]).pooled[0])
    torch.testing.assert_close(train["entities_pooled"][0], text_enc.encode(["Flood Town"]).pooled[0])
    assert not train["entities_pooled"][1].any() and not train["concepts_pooled"][2].any()  # none: the null text
    assert train["has_entities"].tolist() == [True, False, False]
    assert train["entities_mask"][1].tolist() == [True] + [False] * 5  # null text: position 0 only
    test = fs.test.batch(torch.arange(2))
    assert test["has_entities"].tolist() == [True, True]
    torch.testing.assert_close(test["entities_pooled"][1], text_enc.encode(["Green Field"]).pooled[0])
    # without extras nothing changes: same keys and dims as before
    plain = build_feature_splits(tiny_dataset, CountingText(), CountingImage(), FeatureCache(tmp_path / "cache"))
    assert plain.dims.extras == {} and "text_clip" not in plain.train.keys()
