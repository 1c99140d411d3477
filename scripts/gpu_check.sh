#!/usr/bin/env bash
# The GPU kit: on a machine with CUDA, in under 10 minutes, run every notebook under nbval on the
# GPU (quick profile), the speed benchmark on CUDA and the GPU throughput benchmark, and put their
# tables in one folder (default build/gpu-check/):
#   notebooks.txt          nbval's report, one line per notebook cell failure, and the total time
#   speed_cuda.md/.json    benchmarks/speed.py --device cuda
#   gpu_throughput_*.md    benchmarks/gpu_throughput.py
#   faithfulness_cuda.md/.json  benchmarks/faithfulness_speed.py --device cuda (camlib against Quantus and
#                          pytorch-grad-cam on the GPU, the case the README's CPU table leaves open)
#   environment.txt        GPU, driver, torch and CUDA versions
# Needs camlib with its notebook and test extras (make gpu-check installs them into .venv; elsewhere set
# PYTHON to an interpreter that has them).
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
out=${1:-build/gpu-check}
mkdir -p "$out"
if ! "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: torch sees no CUDA device here; run this on a machine with an NVIDIA GPU" >&2
  exit 2
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
  "$python" -c "import torch, torchvision; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'torchvision', torchvision.__version__)"
} | tee "$out/environment.txt"
status=0
start=$(date +%s)
CAMLIB_DEVICE=cuda CAMLIB_PROFILE=quick MPLBACKEND=Agg \
  "$python" -m pytest notebooks -q -p no:cacheprovider 2>&1 | tee "$out/notebooks.txt" || status=1
echo "notebooks under nbval on CUDA: $(( $(date +%s) - start )) s" | tee -a "$out/notebooks.txt"
"$python" benchmarks/speed.py --device cuda --out "$out" || status=1
"$python" benchmarks/gpu_throughput.py --device cuda --out "$out" || status=1
"$python" benchmarks/faithfulness_speed.py --device cuda --rounds 3 --json "$out/faithfulness_cuda.json" \
  > "$out/faithfulness_cuda.md" || status=1
echo "tables in $out"
exit $status
