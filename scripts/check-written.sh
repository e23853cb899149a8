#!/usr/bin/env bash
# The CI stage that checks every model the test suite writes.
#
#   scripts/check-written.sh [--no-checker] DIR
#
# DIR is the folder the tests copied their written models into
# ($ONNXQ_WRITTEN_DIR, see internal/testdata/written.go: testdata.Written).
# Every DIR/**/*.onnx is
#   1. checked by the official ONNX checker ($ONNXQ_CHECKER, default
#      scripts/onnx-check, with --ort:
#      onnx 1.17 check_model(full_check=True) + strict shape inference,
#      and an onnxruntime 1.21 session, in the Debian trixie chroot), and
#   2. loaded at the 'extended' optimization level and run once on zero
#      inputs in ONNX Runtime 1.30 (scripts/internal/ortload, through
#      engine/ort; the library is $ONNXRUNTIME_LIB, by default the copy in
#      the reference data).
# --no-checker skips step 1 (scripts/test.sh passes it when the checker
# chroot could not be built outside CI). Exits 1 if any model fails, or if
# DIR holds no model (a suite that wrote none means the wiring is broken).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-${ONNXQ_TESTDATA:-$ROOT/testdata/models/.cache}/ort/libonnxruntime.so.1}
checker=1
if [[ ${1:-} == --no-checker ]]; then
	checker=
	shift
fi
[[ $# -eq 1 && -d $1 ]] || { echo "usage: scripts/check-written.sh [--no-checker] DIR" >&2; exit 2; }
dir=$(cd "$1" && pwd)

mapfile -t models < <(find "$dir" -type f -name '*.onnx' | LC_ALL=C sort)
if ((${#models[@]} == 0)); then
	echo "check-written: no models in $dir: did the tests call testdata.Written with ONNXQ_WRITTEN_DIR set?" >&2
	exit 1
fi
echo "check-written: ${#models[@]} models written by the tests"

rc=0
if [[ -n $checker ]]; then
	echo "check-written: official ONNX checker + onnxruntime 1.21 (scripts/onnx-check --ort)"
	"${ONNXQ_CHECKER:-$ROOT/scripts/onnx-check}" --ort "${models[@]}" || rc=1
else
	echo "check-written: warning: no checker chroot; only ONNX Runtime 1.30 runs the models" >&2
fi
echo "check-written: ONNX Runtime 1.30 ('extended' optimizations, one run on zero inputs)"
(cd "$ROOT" && CGO_ENABLED=1 go run ./scripts/internal/ortload "${models[@]}") || rc=1
if ((rc != 0)); then
	echo "check-written: some written models failed (see FAIL lines above)" >&2
fi
exit "$rc"
