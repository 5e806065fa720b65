#!/usr/bin/env bash
# CI test (ctest: install_examples): install the build into a temporary prefix, check what was
# installed, build examples/ against that prefix only — the C program with pkg-config (shared
# and static), the C++ program with find_package (shared and static) — and run them with the
# default weights. Exit 77 (ctest: skipped) after the build checks when the weights are absent.
#   tests/install/run.sh BUILD_DIR [WEIGHTS_DIR]
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_DIR [WEIGHTS_DIR]}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
weights=${2:-$src/weights}
enc=$weights/all-MiniLM-L6-v2.brm
ce=$weights/seeded-cross-encoder.brm

tmp=$(mktemp -d /tmp/bertrank-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
step() { echo "== $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; die "install"; }
lib=$prefix/lib
[ -d "$lib" ] || lib=$(dirname "$(find "$prefix" -name libbertrank.a | head -1)")
for f in include/bertrank/bertrank.h include/bertrank/bertrank.hpp bin/bertrank; do
  [ -e "$prefix/$f" ] || die "$f not installed"
done
for f in libbertrank.a libbertrank.so pkgconfig/bertrank.pc pkgconfig/bertrank-static.pc \
         cmake/bertrank/bertrankConfig.cmake cmake/bertrank/bertrankConfigVersion.cmake; do
  [ -e "$lib/$f" ] || die "lib/$f not installed"
done

step "installed libraries"
soname=$(readelf -d "$lib/libbertrank.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ -n "$soname" ] && [ -e "$lib/$soname" ] || die "libbertrank.so has no SONAME or $soname is missing"
echo "   SONAME $soname"
exported=$(nm -D --defined-only "$lib/libbertrank.so" | awk '{print $3}')
others=$(echo "$exported" | grep -v '^bertrank_' || true)
[ -z "$others" ] || die "libbertrank.so exports more than bertrank_*: $(echo "$others" | head -5 | tr '\n' ' ')"
echo "   libbertrank.so exports $(echo "$exported" | wc -l) symbols, all bertrank_*"
readelf -d "$lib/libbertrank.so" | grep NEEDED | grep -qE 'utf8proc|openblas' && die "libbertrank.so needs utf8proc/OpenBLAS"
nm "$lib/libbertrank.a" 2>/dev/null | grep -q ' T utf8proc_map$' || die "utf8proc is not inside libbertrank.a"
nm "$lib/libbertrank.a" 2>/dev/null | grep -qiE ' [TU] (cblas_|openblas|sgemm_)' && die "libbertrank.a contains/needs OpenBLAS"
grep -rlE 'nlohmann|utf8proc' "$prefix/include" && die "public headers mention nlohmann/utf8proc"
echo "   libbertrank.a: utf8proc inside, no OpenBLAS; headers self-contained"

# Only the prefix: pkg-config's search path is replaced, CMake looks in no registry.
export PKG_CONFIG_LIBDIR=$lib/pkgconfig PKG_CONFIG_PATH=
cmake_prefix_only=(-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
                   -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=Release)

step "C example with pkg-config: shared (bertrank.pc) and static (bertrank-static.pc)"
make -s -C "$src/examples" OUT="$tmp/c_shared" PC=bertrank
make -s -C "$src/examples" OUT="$tmp/c_static" PC=bertrank-static
readelf -d "$tmp/c_shared" | grep -q "NEEDED.*\[$soname\]" || die "c_shared does not link $soname"
readelf -d "$tmp/c_static" | grep NEEDED | grep -qE 'bertrank|utf8proc' && die "c_static needs a shared bertrank/utf8proc"
echo "   c_static needs: $(readelf -d "$tmp/c_static" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')"

step "C++ example with find_package: bertrank::bertrank shared and static"
for kind in shared static; do
  use_static=OFF; [ $kind = static ] && use_static=ON
  cmake -S "$src/examples" -B "$tmp/cxx_$kind" "${cmake_prefix_only[@]}" -DBERTRANK_USE_STATIC=$use_static \
    >"$tmp/cxx_$kind.log" 2>&1 || { cat "$tmp/cxx_$kind.log"; die "configure C++ example ($kind)"; }
  found=$(sed -n 's/^bertrank_DIR:PATH=//p' "$tmp/cxx_$kind/CMakeCache.txt")
  [ "$(cd "$found" && pwd -P)" = "$(cd "$lib/cmake/bertrank" && pwd -P)" ] || die "found bertrank in $found, not the prefix"
  cmake --build "$tmp/cxx_$kind" >>"$tmp/cxx_$kind.log" 2>&1 || { cat "$tmp/cxx_$kind.log"; die "build C++ example ($kind)"; }
done
readelf -d "$tmp/cxx_static/embed_rerank_cpp" | grep NEEDED | grep -qE 'bertrank|utf8proc' &&
  die "C++ static example needs a shared bertrank/utf8proc"
readelf -d "$tmp/cxx_shared/embed_rerank_cpp" | grep -q "NEEDED.*\[$soname\]" || die "C++ shared example does not link $soname"

if [ ! -f "$enc" ] || [ ! -f "$ce" ]; then
  echo "SKIP running the examples: $enc or $ce is absent (scripts/setup.sh fetches and converts them)"
  exit 77
fi
step "run the four programs"
for b in c_shared c_static cxx_shared/embed_rerank_cpp cxx_static/embed_rerank_cpp; do
  "$tmp/$b" "$enc" "$ce" >"$tmp/out.${b%%/*}" || die "$b failed"
done
cat "$tmp/out.c_shared"
# The same rankings and scores from all four: C prints in document order, C++ best first.
for o in "$tmp"/out.c_shared "$tmp"/out.c_static "$tmp"/out.cxx_shared "$tmp"/out.cxx_static; do grep '^  rerank' "$o" | sort >"$o.rows"; done
for o in "$tmp"/out.*.rows; do cmp -s "$o" "$tmp/out.c_shared.rows" || die "$(basename "$o") differs from c_shared"; done
[ "$(wc -l <"$tmp/out.c_shared.rows")" -eq 4 ] || die "expected 4 result rows"
echo "PASS: installed package builds and runs (C: pkg-config, C++: find_package; shared and static)"
