"""The end-of-run summary printed in the terminal: the main table's first metric, where the reports
are, which cells failed, and the synthetic warning again (a researcher reads the last screen)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.metrics import metric_label


def console_summary(suite, workdir: Path, written: list[Path], failed_cells: list[str],
                    synthetic: bool, protocol: str = "clean") -> str:
    from reports.build import report_dir
    out_dir = report_dir(Path(workdir), suite.name, protocol)
    lines = [f"[report] {len(written)} file(s) in {out_dir}/ (table.md, table.tex, table.csv, figures)"]
    table = out_dir / "table.csv"
    metric = suite.metrics[0] if suite.metrics else None
    if metric and table.is_file():
        frame = pd.read_csv(table)
        frame = frame[(frame["table"] == suite.name) & (frame["metric"] == metric)] if "metric" in frame else frame[:0]
        shown = frame[frame["status"] == "ok"] if "status" in frame else frame
        if len(shown):
            lines.append(f"{metric_label(metric)} per row and dataset (mean over seeds, 95% CI (b) over clusters x seeds):")
            width = max(len(str(r)) for r in shown["row"])
            for _, r in shown.iterrows():
                paper = f"  paper {r['paper']:.3f}: {r['verdict']}" if pd.notna(r.get("paper")) else ""
                seeds = int(r["n_seeds"]) if pd.notna(r.get("n_seeds")) else 0
                lines.append(f"  {str(r['row']):<{width}}  {r['dataset']:<12} {r['mean']:.3f} "
                             f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] ({seeds} seed{'s' if seeds != 1 else ''})"
                             + paper)
    if failed_cells:
        lines.append(f"{len(failed_cells)} cell(s) FAILED (their errors are in the MLflow runs): "
                     + "; ".join(failed_cells[:10]) + (" ..." if len(failed_cells) > 10 else ""))
    if synthetic:
        lines.append("*** SYNTHETIC DATA: these numbers test the harness, not the papers (pass --data-root). ***")
    return "\n".join(lines)
