"""benchmarks/perf.py: argument handling and the side-by-side table (no timing asserted)."""

import importlib.util
import io
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("perf", Path(__file__).parents[2] / "benchmarks" / "perf.py")
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


def test_cold_run_and_bf16_over_old_fp32_lines():
    def result(rate, cold, bf16=None):
        models = {"coolant/fp32": {"posts_per_s": rate, "gflop_per_step": 6.0, "gflops": 30.0, "ratio_to_limit": 0.3}}
        runs = {"fp32": {"seconds": cold, "texts": 40, "images": 5, "threads": 2}}
        if bf16:
            models["coolant/bf16"] = dict(models["coolant/fp32"], posts_per_s=bf16)
            runs["bf16"] = {"seconds": cold / 2, "texts": 40, "images": 5, "threads": 2}
        return {"threads": 1, "dataset": "d", "n_train": 10, "limits": {"fp32": 100.0}, "models": models,
                "cold_run": runs}
    out = io.StringIO()
    perf.print_table({"A=old": result(100.0, 40.0), "B=new": result(150.0, 20.0, bf16=330.0)}, out=out)
    text = out.getvalue()
    cold = [line for line in text.splitlines() if line.strip().startswith(("fp32 (", "bf16 ("))]
    assert cold[0].rstrip().endswith("2.00x") and "n/a" in cold[1]  # 40 s -> 20 s; no bf16 on A
    after = text.split("bf16 vs")[1]
    assert "3.30x" in after and "4.00x" in after  # 330 / 100 posts/s; 40 s / 10 s
    assert perf.parse(["--cold-run", "3000"]).cold_run == 3000
