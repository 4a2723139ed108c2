"""mmfnd-bench plugin: importing this module (entry point ``mmfnd_bench.plugins``) registers a model,
a variant and the suites in ``suites/``."""

from pathlib import Path

from benchmark.suites import register_suite_folder
from benchmark.variants import register_variant
from mmfnd_bench_example.model import GatedFusion  # noqa: F401  (registers model "gated_fusion")

register_variant("gated_fusion", "no_gate", "w/o gate", {"use_gate": False},
                 description="fixed 50/50 average of the two modalities instead of the learned gate")
register_suite_folder(Path(__file__).parent / "suites")
