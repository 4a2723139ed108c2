"""Extension: a third-party package registers a model, a variant and a suite through the
``mmfnd_bench.plugins`` entry point, and ``bench run --suite path/to/file.yaml`` runs a suite file
from anywhere. The example package (examples/mmfnd_bench_example) is installed into a temporary
folder, never into the shared environment, and exercised in a subprocess so its registrations do
not leak into the other tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import registry
from benchmark.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "mmfnd_bench_example"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(target), str(EXAMPLE)], capture_output=True, text=True,
                         timeout=300, cwd=build, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert out.returncode == 0, out.stderr
    assert list(target.glob("mmfnd_bench_example-*.dist-info/entry_points.txt"))
    return target


def _bench(plugin_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "benchmark.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=REPO)


def test_example_plugin_runs_beside_coolant_from_a_suite_file(plugin_path, tmp_path):
    listed = _bench(plugin_path, "list", "models")
    assert listed.returncode == 0 and "gated_fusion" in listed.stdout, listed.stderr
    listed = _bench(plugin_path, "list", "suites")
    assert "example" in listed.stdout  # the plugin's own suite folder
    run = _bench(plugin_path, "run", "--suite", "examples/my_suite.yaml", "--limit", "60", "--max-epochs", "1",
                 "--seeds", "1", "--device", "cpu", "--workdir", str(tmp_path))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = (tmp_path / "reports" / "my-suite" / "table.md")
    assert "| COOLANT" in table.read_text() and "| Gated fusion" in table.read_text()
    table.unlink()
    report = _bench(plugin_path, "report", "--suite", "examples/my_suite.yaml", "--workdir", str(tmp_path))
    assert report.returncode == 0 and "| Gated fusion" in table.read_text(), report.stderr
    # the plugin is loaded in worker processes too (--jobs 2: spawned workers import it again)
    run = _bench(plugin_path, "run", "--suite", "example", "--row", "w/o gate", "--limit", "60",
                 "--max-epochs", "1", "--device", "cpu", "--workdir", str(tmp_path), "--jobs", "2")
    assert run.returncode == 0 and "[done] w/o gate | Twitter | seed 0" in run.stdout, run.stdout + run.stderr


def test_a_suite_file_is_validated_like_the_built_in_ones(tmp_path, capsys):
    bad = tmp_path / "mine.yaml"
    bad.write_text("name: mine\ntitle: t\ndatasets:\n  - {id: twitter, synthetic: synthetic-demo}\n"
                   "rows:\n  - {label: X, model: coolantt}\n")
    assert main(["run", "--suite", str(bad), "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "row 'X'" in err and "Did you mean 'coolant'" in err
    assert main(["run", "--suite", str(tmp_path / "absent.yaml"), "--workdir", str(tmp_path / "w")]) == 2
    assert "absent.yaml" in capsys.readouterr().err
    clash = tmp_path / "clash.yaml"
    clash.write_text("name: table2\ntitle: t\ndatasets:\n  - {id: twitter, synthetic: synthetic-demo}\n"
                     "rows:\n  - {label: X, model: coolant}\n")
    assert main(["run", "--suite", str(clash), "--workdir", str(tmp_path / "w")]) == 2
    assert "already defines" in capsys.readouterr().err


def test_a_broken_plugin_is_an_error_naming_its_entry_point(tmp_path, monkeypatch, capsys):
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mmfnd_bench.plugins]\nbroken = broken_plugin_module\n")
    (tmp_path / "broken_plugin_module.py").write_text("raise ImportError('needs torch_geometric')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(registry.PluginError, match=r"plugin broken = broken_plugin_module .*broken-plugin.*"
                                                   r"needs torch_geometric.*pip uninstall broken-plugin"):
        registry.load_plugins()
    assert main(["list", "models"]) == 2
    assert "plugin broken = broken_plugin_module" in capsys.readouterr().err
