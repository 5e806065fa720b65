#!/usr/bin/env bash
# Creates the Python reference environment used to regenerate the golden files in this folder
# (Hugging Face tokenizers / transformers / sentence-transformers on CPU). CI never runs this;
# the goldens are committed. Idempotent: a second run with the same package list does nothing.
#
#   tests/golden/make_ref_venv.sh              # -> ${BERTRANK_REF_VENV:-~/.cache/bertrank/ref-venv}
#   "$BERTRANK_REF_VENV/bin/python" tests/golden/gen_tokenizer_goldens.py
#
# Environment:
#   BERTRANK_REF_VENV      where to create the venv
#   PYTHON                 interpreter to create it with (default python3, >= 3.9)
#   TOKENIZERS_VERSION     tokenizers version; the committed goldens were made with 0.23.3
#                          (their first line records it), so keep it to reproduce them exactly
#   BERTRANK_TORCH_INDEX   pip index for torch (default: the CPU-only wheels, much smaller). When
#                          it cannot be reached (e.g. only PyPI is reachable), torch comes from
#                          PyPI, whose Linux wheel pulls the CUDA libraries (GBs) but runs on CPU.
set -euo pipefail

venv=${BERTRANK_REF_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/bertrank/ref-venv}
python=${PYTHON:-python3}
tokenizers_version=${TOKENIZERS_VERSION:-0.23.3}
torch_index=${BERTRANK_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}

packages=("tokenizers==$tokenizers_version" transformers sentence-transformers safetensors numpy faiss-cpu onnxruntime)
stamp="$venv/.bertrank-ref-venv"
want="torch ${packages[*]}"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "ref-venv: up to date at $venv"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "ref-venv: creating $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi

# torch first, from the CPU index when it answers (else PyPI), so sentence-transformers does not
# pull another build. An already installed torch (of any build) satisfies this and stays.
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  if "$venv/bin/python" - "$torch_index" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=15)
PY
  then
    "$venv/bin/python" -m pip install -q --index-url "$torch_index" torch
  else
    echo "ref-venv: $torch_index unreachable; torch from PyPI"
    "$venv/bin/python" -m pip install -q torch
  fi
fi
"$venv/bin/python" -m pip install -q "${packages[@]}"

"$venv/bin/python" - <<'PY'
import tokenizers, transformers, sentence_transformers, torch, numpy, safetensors, faiss, onnxruntime
print("ref-venv: tokenizers %s, transformers %s, sentence-transformers %s, torch %s, numpy %s, faiss %s"
      % (tokenizers.__version__, transformers.__version__, sentence_transformers.__version__,
         torch.__version__, numpy.__version__, faiss.__version__))
PY
echo "$want" > "$stamp"
echo "ref-venv: ready at $venv"
