"""Provenance that explains why two runs of the same seed differ: the features' content fingerprint and
the machine (CPU type, instruction set, featurising threads), and the report lines built from them."""

from types import SimpleNamespace

import torch

from benchmark.features import FeatureDims, FeatureSplits, FeatureTable
from benchmark.tracking import host_description
from reports.build import machine_text, mixed_features_note


def _table(prefix: str, rows: torch.Tensor, values: torch.Tensor) -> FeatureTable:
    return FeatureTable(item_ids=[f"{prefix}{i}" for i in range(3)], labels=torch.tensor([0, 1, 1]),
                        events=torch.tensor([0, 0, -1]), columns={"text_pooled": values},
                        shared={"image_regions": (rows, torch.tensor([0, 1, 0]))})


def _splits(text: torch.Tensor, rows: torch.Tensor | None = None, first_id: str = "t") -> FeatureSplits:
    rows = torch.arange(8, dtype=torch.bfloat16).reshape(2, 2, 2) if rows is None else rows
    dims = FeatureDims(text_dim=2, image_dim=2, text_len=1, image_regions=2)
    return FeatureSplits(train=_table(first_id, rows, text), validation=_table("v", rows, text.clone()),
                         test=_table("s", rows, text.clone()), dims=dims)


def test_content_fingerprint_sees_the_last_bit_and_nothing_else():
    text = torch.tensor([[0.5, 1.0], [2.0, 3.0], [4.0, 5.0]], dtype=torch.bfloat16)
    base = _splits(text).content_fingerprint()
    assert len(base) == 16 and int(base, 16) >= 0
    # equal content in other tensor objects: equal fingerprint
    assert _splits(text.clone(), torch.arange(8, dtype=torch.bfloat16).reshape(2, 2, 2)).content_fingerprint() == base
    # one value one bf16 step away (what another thread count gives): another fingerprint
    nudged = text.clone()
    nudged[1, 0] = torch.tensor(2.0 + 2.0 ** -6, dtype=torch.bfloat16)  # 2.0 + one bf16 ulp at 2
    assert nudged[1, 0].item() != 2.0
    assert _splits(nudged).content_fingerprint() != base
    # the same numbers stored in another dtype are other features
    assert _splits(text.float()).content_fingerprint() != base
    # a shared image row changed, or other item ids: another fingerprint
    rows = torch.arange(8, dtype=torch.bfloat16).reshape(2, 2, 2)
    rows[1, 1, 1] = 100
    assert _splits(text, rows).content_fingerprint() != base
    assert _splits(text, first_id="u").content_fingerprint() != base


def test_host_description_names_the_cpu_and_its_widest_bf16_path():
    info = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
            "flags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16\n"
            "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu\n")
    host = host_description(info)
    assert host["cpu"] == "Intel(R) Xeon(R) Platinum 8480+" and host["cpu_isa"] == "amx_bf16"
    assert host["torch_threads"] == str(torch.get_num_threads())
    assert host_description("model name : Old CPU\nflags : fpu sse avx2\n")["cpu_isa"] == "avx2"
    assert host_description("model name : Tiny\nflags : fpu\n")["cpu_isa"].startswith("none of amx_bf16")


def _record(dataset: str, **tags) -> SimpleNamespace:
    return SimpleNamespace(dataset=dataset, tags=tags)


def test_report_lines_name_the_machine_and_flag_mixed_features():
    one = _record("twitter", **{"machine.cpu": "Xeon", "machine.cpu_isa": "amx_bf16", "machine.torch_threads": "2",
                                "features_fingerprint": "aaaa"})
    assert machine_text(one) == "Xeon (amx_bf16), 2 featurising thread(s)"
    assert machine_text(_record("twitter")) == "not recorded"
    assert mixed_features_note([one, _record("twitter", features_fingerprint="aaaa"), _record("twitter")]) == ""
    note = mixed_features_note([one, one, _record("twitter", features_fingerprint="bbbb"),
                                _record("weibo", features_fingerprint="cccc")])
    assert "twitter: aaaa (2 cells), bbbb (1 cells)" in note and "weibo" not in note
