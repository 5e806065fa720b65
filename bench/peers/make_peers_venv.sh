#!/usr/bin/env bash
# Creates the virtual environment of the peer engines benchmarked by bench/peers/run.sh
# (ONNX Runtime, PyTorch CPU + sentence-transformers, and what exporting / plotting needs).
# It lives OUTSIDE the repository; nothing of it is committed. Idempotent: a second run with
# the same package list only checks the imports.
#
#   bench/peers/make_peers_venv.sh        # -> ${BERTRANK_PEERS_VENV:-~/.cache/bertrank/peers-venv}
#
# Environment:
#   BERTRANK_PEERS_VENV   where to create the venv
#   PYTHON                interpreter to create it with (default python3, >= 3.9)
#   BERTRANK_TORCH_INDEX  pip index for torch (default: the CPU-only wheels). When it cannot be
#                         reached (e.g. only PyPI is reachable), torch comes from PyPI, whose
#                         Linux wheel pulls the CUDA libraries (several GB) but runs on CPU alike.
set -euo pipefail

venv=${BERTRANK_PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/bertrank/peers-venv}
python=${PYTHON:-python3}
torch_index=${BERTRANK_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}

# onnx: the exporter's output format; onnxruntime: the peer (its quantization module does the
# dynamic int8); sentence-transformers/transformers on torch: the other peer and the exporter.
packages=(numpy tokenizers transformers sentence-transformers safetensors onnx onnxruntime matplotlib)
stamp="$venv/.bertrank-peers-venv"
want="torch ${packages[*]}"

check() {
  "$venv/bin/python" - <<'PY'
import numpy, tokenizers, transformers, sentence_transformers, torch, onnx, onnxruntime, matplotlib
print("peers-venv: torch %s, onnxruntime %s, onnx %s, transformers %s, sentence-transformers %s, "
      "tokenizers %s, numpy %s" % (torch.__version__, onnxruntime.__version__, onnx.__version__,
      transformers.__version__, sentence_transformers.__version__, tokenizers.__version__,
      numpy.__version__))
PY
}

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  check && exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "peers-venv: creating $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi

# torch first, so sentence-transformers does not pull another build. The CPU index when it
# answers, else PyPI. An already installed torch (of any build) satisfies this and stays.
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  if "$venv/bin/python" - "$torch_index" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=15)
PY
  then
    echo "peers-venv: torch from $torch_index"
    "$venv/bin/python" -m pip install -q --index-url "$torch_index" torch
  else
    echo "peers-venv: $torch_index unreachable; torch from PyPI"
    "$venv/bin/python" -m pip install -q torch
  fi
fi
"$venv/bin/python" -m pip install -q "${packages[@]}"
check
echo "$want" > "$stamp"
echo "peers-venv: ready at $venv"
