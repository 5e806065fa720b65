#!/usr/bin/env bash
# The build's layering rule, checked (issue 14; cmake/BertrankLayers.cmake says how it works).
# For every layer, a probe source that includes one header of each folder is compiled with that
# layer's include root alone (-fsyntax-only): a folder the layer may see must compile, a folder
# above it must fail with "No such file or directory". And no engine source escapes its root
# with a relative "../" include. Usage: check.sh <source dir> <build dir> <c++ compiler>
set -euo pipefail
src=$1 build=$2 cxx=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One header of each folder, standing for the folder.
declare -A probe=(
  [common]=common/utf8.h
  [kernels]=kernels/kernels.h
  [tokenizer]=tokenizer/wordpiece.h
  [model]=model/model.h
  [retrieval]=retrieval/index.h
  [api]=api/pipeline.h
  [server]=server/http.h
  [tools]=tools/cli_util.h
)
# What each layer may see (itself included); every other folder must be invisible to it.
declare -A sees=(
  [common]="common"
  [kernels]="kernels common"
  [tokenizer]="tokenizer common"
  [model]="model kernels tokenizer common"
  [retrieval]="retrieval kernels common"
  [api]="api model retrieval kernels tokenizer common"
  [server]="server common"
  [tools]="tools server retrieval common"
)
folders="common kernels tokenizer model retrieval api server tools"
fail=0 checked=0
for layer in $folders; do
  root="$build/layers/$layer"
  [ -d "$root" ] || { echo "FAIL: no include root $root (configure the build first)"; fail=1; continue; }
  for f in $folders; do
    printf '#include "%s"\n' "${probe[$f]}" >"$tmp/probe.cpp"
    # The public header directory is on the api layer's (and so the CLI's) path.
    extra=()
    case " ${sees[$layer]} " in *" api "*|*" server "*|*" tools "*) extra=(-I "$src/include") ;; esac
    if "$cxx" -std=c++17 -fsyntax-only -I "$root" "${extra[@]}" "$tmp/probe.cpp" 2>"$tmp/err"; then
      ok=1
    else
      ok=0
    fi
    checked=$((checked + 1))
    if [[ " ${sees[$layer]} " == *" $f "* ]]; then
      [ $ok = 1 ] || { echo "FAIL: layer $layer cannot include ${probe[$f]}:"; head -3 "$tmp/err"; fail=1; }
    else
      if [ $ok = 1 ]; then
        echo "FAIL: layer $layer can include ${probe[$f]} (a layer above it)"; fail=1
      elif ! grep -q "No such file or directory" "$tmp/err"; then
        echo "FAIL: layer $layer including ${probe[$f]} failed, but not for the layering:"; head -3 "$tmp/err"; fail=1
      fi
    fi
  done
done
# A relative include that climbs out of the including file's folder would bypass the roots.
if grep -rnE '#include "\.\./' "$src"/{common,kernels,tokenizer,model,retrieval,api,server,tools} \
     --include='*.h' --include='*.cpp' --include='*.inc' >"$tmp/rel"; then
  echo "FAIL: relative includes climb out of their folder:"; cat "$tmp/rel"; fail=1
fi
echo "layering: $checked include probes over $(echo $folders | wc -w) layers, $([ $fail = 0 ] && echo ok || echo FAILED)"
exit $fail
