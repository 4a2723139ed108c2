"""Reproduction and ablation suite for multimodal (image + text) fake-news detection.

The harness (registry, data, encoders, engine, tracking, CLI) lives here; baselines, ablations and
reports live in sibling packages that import from it.
"""

__version__ = "0.1.0"
