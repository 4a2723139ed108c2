#!/usr/bin/env bash
# One short GPU check, for a session whose task is lent a GPU machine (see the device tool):
# the smoke suite on CUDA, one real-data COOLANT cell (bf16 autocast is the CUDA default) and the
# performance benchmark. Everything measured goes to ${OUT:-gpu-check}/gpu_check.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-gpu-check}"; mkdir -p "$OUT_DIR"; LOG="$OUT_DIR/gpu_check.txt"
export TQDM_DISABLE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
if [ ! -x .venv/bin/python ]; then python3.11 -m venv .venv && .venv/bin/pip install -q -e ".[test]"; fi
. .venv/bin/activate
W=$(mktemp -d)
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  echo "== smoke suite, --device cuda"
  /usr/bin/time -f "smoke wall %e s" bench run --suite smoke --device cuda --workdir "$W/smoke"
  echo "== one real-data COOLANT cell (bf16 autocast on CUDA)"
  /usr/bin/time -f "coolant cell wall %e s" bench run --suite table2 --row COOLANT --seeds 1 \
      --device cuda --data-root ../shared/data --workdir "$W/real"
  echo "== performance benchmark (CPU side of this machine, one thread)"
  python benchmarks/perf.py --data-root ../shared/data --workdir "$W/real" --models coolant,mcan,visualbert --steps 10
} 2>&1 | tee "$LOG"
