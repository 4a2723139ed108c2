"""CLIP's two towers from a local folder (--clip-path): the embeddings are the model's own projected
features, loaded offline, and the identity follows the weights."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from benchmark.encoders.clip import CLIPWeights, clip_pair  # noqa: E402
from tests.tiny_clip import make_tiny_clip  # noqa: E402


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return make_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny")


def test_text_and_image_embeddings_are_clips_projected_features(clip_dir):
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel
    text_encoder, image_encoder = clip_pair(clip_dir, device="cpu")
    texts = ["hurricane sandy hits new york", "a shark in the street", "x"]
    images = [Image.new("RGB", (40, 30), (200, 10, 10)), Image.new("RGB", (20, 50), (0, 90, 250))]
    got_text, got_image = text_encoder.encode(texts), image_encoder.encode(images)

    model = CLIPModel.from_pretrained(str(clip_dir), local_files_only=True).eval()
    tokens = AutoTokenizer.from_pretrained(str(clip_dir))(texts, padding=True, return_tensors="pt")
    pixels = AutoImageProcessor.from_pretrained(str(clip_dir))(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        want_text = model.text_projection(model.text_model(**tokens).pooler_output)
        want_image = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)
    assert got_text.pooled.shape == (3, 16) and got_image.pooled.shape == (2, 16)
    assert torch.allclose(got_text.pooled, want_text, atol=1e-5)
    assert torch.allclose(got_image.pooled, want_image, atol=1e-5)
    assert not torch.allclose(got_text.pooled[0], got_text.pooled[1])  # the tokenizer tells texts apart
    assert got_image.regions.shape == (2, 1, 16) and text_encoder.dim == image_encoder.dim == 16


def test_identity_hashes_the_weights(clip_dir, tmp_path):
    text_a, image_a = clip_pair(clip_dir)
    text_b, image_b = clip_pair(make_tiny_clip(tmp_path / "other", seed=1))
    assert text_a.identity != text_b.identity and image_a.identity != image_b.identity
    assert text_a.identity == clip_pair(clip_dir)[0].identity
    assert text_a.identity.startswith("text:clip|weights-sha1=") and image_a.identity.startswith("image:clip|")


def test_a_missing_folder_is_named_with_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere: not a CLIP model folder; pass --clip-path"):
        CLIPWeights(tmp_path / "nowhere")
