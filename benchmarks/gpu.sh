#!/usr/bin/env bash
# The GPU checks of a session lent a device machine, as one run (benchmarks/README.md, "On a GPU"): the CUDA
# tests (pytest -m cuda) and the overhead table on CUDA. Runs from the repository root with the machine's own
# python3 and torch, the project from src/ and the packages the machine lacks from the wheels in .whl/.
# Writes into $OUT (else benchmarks/results): gpu.txt, cuda_tests.log, overhead_cuda.log, overhead_cuda.json.
set -uo pipefail
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 2
  export PYTHONPATH="/tmp/site"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider -m cuda -rs tests/noise tests/train 2>&1 | tee "$out/cuda_tests.log"
tests=${PIPESTATUS[0]}
python3 benchmarks/overhead.py --device cuda 2>&1 | tee "$out/overhead_cuda.log"
bench=${PIPESTATUS[0]}
[ "$out" = benchmarks/results ] || cp benchmarks/results/overhead_cuda.json "$out/"
echo "pytest -m cuda: exit $tests; overhead.py --device cuda: exit $bench"
exit $((tests || bench))
