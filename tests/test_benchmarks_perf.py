"""benchmarks/perf.py: argument handling and the side-by-side table (no timing asserted)."""

import importlib.util
import io
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("perf", Path(__file__).parent.parent / "benchmarks" / "perf.py")
perf = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(perf)


def test_children_get_every_option_but_compare_repeat_json():
    args = perf.parse(["--models", "coolant,mcan", "--compare", "HEAD~1", "HEAD", "--repeat", "3",
                       "--steps", "4", "--json", "x.json"])
    assert args.models == ["coolant", "mcan"] and args.compare == ["HEAD~1", "HEAD"]
    assert args.passthrough == ["--models", "coolant,mcan", "--steps", "4"]
    with pytest.raises(SystemExit):
        perf.parse(["--precisions", "fp16"])


def test_table_prints_ratio_of_b_to_a():
    def result(rate):
        return {"threads": 1, "dataset": "d", "n_train": 10, "limits": {"fp32": 100.0},
                "models": {"coolant/fp32": {"posts_per_s": rate, "gflop_per_step": 6.0, "gflops": 30.0,
                                            "ratio_to_limit": 0.3}},
                "featurise": {"text_items_per_s": rate, "image_items_per_s": 2 * rate}}
    out = io.StringIO()
    perf.print_table({"A=old": result(100.0), "B=new": result(150.0)}, out=out)
    text = out.getvalue()
    assert "1.50x" in text and "coolant/fp32" in text and "featurise text" in text
