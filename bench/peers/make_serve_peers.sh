#!/usr/bin/env bash
# Makes the serving peers of bench/bench_server.py (issue 15): infinity (PyPI `infinity-emb`,
# torch and optimum/ONNX engines) and llama.cpp's server (PyPI `llama-cpp-python[server]`,
# compiled from its sdist for this CPU), and converts the bi-encoder (and, if llama.cpp takes
# it, the reranker) to f32 GGUF from the same Hugging Face folders that bertrank's .brm files
# were made from. Everything lives OUTSIDE the repository; nothing of it is committed.
# Idempotent: a second run only checks what is there.
#
#   bench/peers/make_serve_peers.sh [infinity|llama|gguf|onnx]...   # default: all, in order
#     -> ${BERTRANK_SERVE_PEERS:-~/.cache/bertrank/serve-peers}
# (infinity and llama are independent: running them as two processes at once saves time.)
#
# Two venvs, because the two servers pin their web stacks independently:
#   infinity-venv   torch (CPU wheel index when reachable, else PyPI), infinity-emb[server,torch,
#                   optimum]; also the GGUF converter's interpreter (it needs torch + transformers)
#   llama-venv      llama-cpp-python[server] built with CMAKE_ARGS for a native CPU build (the
#                   compile of llama.cpp takes 10+ minutes on 2 cores), gguf
# and gguf/: all-MiniLM-L6-v2-f32.gguf, ms-marco-MiniLM-L-12-v2-f32.gguf (when convertible);
# onnx/<model>/: the HF folder's files (symlinks) + model.onnx exported by optimum-cli, because
# infinity's optimum engine wants an .onnx file in the model folder (it does not export); exported
# as a plain transformers BertModel (last_hidden_state), which is what infinity pools: the
# sentence-transformers export has token_embeddings / sentence_embedding outputs instead.
# Each step logs to $root/logs/ and writes its outcome to $root/status/STEP; a failed step does not
# stop the others. bench_server.py prints these outcomes next to its results.
#
# Environment: BERTRANK_SERVE_PEERS (root), PYTHON (default python3), BERTRANK_TORCH_INDEX,
# LLAMA_CPP_PYTHON_VERSION (default 0.3.36), BERTRANK_PEERS_JOBS (compile jobs, default 2).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
root=${BERTRANK_SERVE_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/bertrank/serve-peers}
python=${PYTHON:-python3}
torch_index=${BERTRANK_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
llama_version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
jobs=${BERTRANK_PEERS_JOBS:-2}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(infinity llama gguf onnx)
mkdir -p "$root/logs" "$root/gguf" "$root/onnx" "$root/src" "$root/status"
status=
note() { echo "serve-peers: $*"; echo "$*" >> "$status"; }
begin() { status="$root/status/$1"; : > "$status"; }

make_venv() {  # $1 = dir
  [ -x "$1/bin/python" ] || "$python" -m venv "$1"
}

inf="$root/infinity-venv"
lv="$root/llama-venv"
sdist_dir="$root/src/llama_cpp_python-$llama_version"

# --- infinity -------------------------------------------------------------------------------
inf_ok() {
  "$inf/bin/python" -c "import torch, infinity_emb, optimum.onnxruntime; print('infinity-emb', \
infinity_emb.__version__, 'torch', torch.__version__)" 2>/dev/null
}
step_infinity() {
  begin infinity
  if ! inf_ok >/dev/null; then
    make_venv "$inf"
    {
      if ! "$inf/bin/python" -c "import torch" 2>/dev/null; then
        if "$inf/bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1].rstrip('/') + '/torch/', timeout=15)" "$torch_index" 2>/dev/null; then
          "$inf/bin/python" -m pip install --index-url "$torch_index" torch
        else
          echo "$torch_index unreachable; torch from PyPI"
          "$inf/bin/python" -m pip install torch
        fi
      fi
      # gguf, sentencepiece, protobuf: what convert_hf_to_gguf.py needs besides torch/transformers
      "$inf/bin/python" -m pip install "infinity-emb[server,torch,optimum]" gguf sentencepiece protobuf
    } > "$root/logs/infinity.log" 2>&1
  fi
  local v
  if v=$(inf_ok); then note "infinity: ok ($v)"; else note "infinity: FAILED, see $root/logs/infinity.log"; fi
}

# --- llama-cpp-python -----------------------------------------------------------------------
llama_ok() {
  "$lv/bin/python" -c "import llama_cpp, llama_cpp.server.app; print('llama-cpp-python', \
llama_cpp.__version__)" 2>/dev/null
}
step_llama() {
  begin llama
  if ! llama_ok >/dev/null; then
    make_venv "$lv"
    {
      # The sdist is kept: its vendor/llama.cpp/convert_hf_to_gguf.py is of the same version.
      # (--no-binary for this package only: for all it would compile cmake and ninja too.)
      if [ ! -d "$sdist_dir" ]; then
        "$lv/bin/python" -m pip download --no-deps --no-binary llama-cpp-python -d "$root/src" \
          "llama-cpp-python==$llama_version" &&
          tar -xzf "$root/src/llama_cpp_python-$llama_version.tar.gz" -C "$root/src"
      fi
      CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_OPENMP=ON" \
        CMAKE_BUILD_PARALLEL_LEVEL=$jobs "$lv/bin/python" -m pip install -v \
        "llama-cpp-python[server] @ file://$root/src/llama_cpp_python-$llama_version.tar.gz" gguf
    } > "$root/logs/llama.log" 2>&1
  fi
  local v
  if v=$(llama_ok); then note "llama.cpp: ok ($v)"; else note "llama.cpp: FAILED, see $root/logs/llama.log"; fi
}

# --- GGUF conversion (f32, from the same HF folders as weights/*.brm) -----------------------
step_gguf() {
  begin gguf
  local convert="$sdist_dir/vendor/llama.cpp/convert_hf_to_gguf.py" m out log
  for m in all-MiniLM-L6-v2 ms-marco-MiniLM-L-12-v2; do
    out="$root/gguf/$m-f32.gguf"
    log="$root/logs/convert-$m.log"
    if [ -s "$out" ]; then note "gguf $m: ok ($out)"; continue; fi
    if [ ! -f "$convert" ] || ! "$inf/bin/python" -c "import torch, gguf" 2>/dev/null; then
      note "gguf $m: FAILED (needs $convert and torch + gguf in $inf: run the other steps first)"
      continue
    fi
    if "$inf/bin/python" "$convert" "$repo/weights/hf/$m" --outtype f32 --outfile "$out.tmp" > "$log" 2>&1; then
      mv "$out.tmp" "$out"
      note "gguf $m: ok ($out)"
    else
      rm -f "$out.tmp"
      note "gguf $m: FAILED, see $log ($(tail -n 1 "$log"))"
    fi
  done
}

# --- ONNX folders for infinity's optimum engine ----------------------------------------------
step_onnx() {
  begin onnx
  local m task out log f
  for m in all-MiniLM-L6-v2:feature-extraction ms-marco-MiniLM-L-12-v2:text-classification; do
    task=${m#*:}
    m=${m%%:*}
    out="$root/onnx/$m"
    log="$root/logs/onnx-$m.log"
    if [ ! -s "$out/model.onnx" ]; then
      rm -rf "$out.tmp"
      if ! "$inf/bin/optimum-cli" export onnx --model "$repo/weights/hf/$m" --task "$task" \
           --library-name transformers "$out.tmp" > "$log" 2>&1; then
        note "onnx $m: FAILED, see $log ($(tail -n 1 "$log"))"
        continue
      fi
      rm -rf "$out"
      mv "$out.tmp" "$out"
    fi
    # the sentence-transformers files (pooling) the export does not write
    for f in "$repo/weights/hf/$m"/*; do
      [ -e "$out/$(basename "$f")" ] || ln -s "$(readlink -f "$f")" "$out/$(basename "$f")"
    done
    note "onnx $m: ok ($out)"
  done
}

for s in "${steps[@]}"; do
  case $s in
    infinity|llama|gguf|onnx) "step_$s" ;;
    *) echo "make_serve_peers.sh: unknown step '$s' (infinity, llama, gguf, onnx)" >&2; exit 2 ;;
  esac
done
cat "$root"/status/* 2>/dev/null
