#!/usr/bin/env bash
# The project's test command: scripts/test.sh
#
# 1. makes sure the reference data (scripts/fetch-testdata.sh) and the ONNX
#    checker chroot (scripts/checker-env.sh) are there -- both are cached, so
#    this takes well under a second once they have been built;
# 2. exports where the tests find them:
#      ONNXQ_TESTDATA   testdata/models/.cache
#      ONNXRUNTIME_LIB  $ONNXQ_TESTDATA/ort/libonnxruntime.so.1 (ONNX Runtime 1.30.0)
#      ONNXQ_CHECKER    scripts/onnx-check
# 3. go vet ./... and go test -count=1 -timeout 30m ./...
#    with ONNXQ_WRITTEN_DIR set, so the tests copy every model they write
#    there (testdata.Written); then scripts/check-written.sh runs the
#    official checker and ONNX Runtime 1.30 on all of them;
# 4. a bounded fuzz run of onnxio's FuzzLoad, when that fuzz test exists
#    ($ONNXQ_FUZZTIME, default 60s; 0 skips it).
#
# Building the checker chroot needs root. Outside CI (CI unset) a failure to
# build it is a warning: ONNXQ_CHECKER is then left unset, and the tests that
# need the checker fail naming it (they never skip). In CI it is an error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n=== %s\n' "$*"; }

step "test data"
scripts/fetch-testdata.sh

step "prerequisites"
# chromium: the report test (report/) opens the HTML report in headless
# Chromium and fails without it; .ci/run installs it (apt-get install chromium).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && [[ -z ${ONNXQ_CHROMIUM:-} ]]; then
	if [[ ${CI:-} == true || ${CI:-} == 1 ]]; then
		echo "test.sh: ERROR: chromium is not installed (apt-get install chromium)" >&2
		exit 1
	fi
	echo "test.sh: warning: chromium is not installed (apt-get install chromium): the report test will fail" >&2
fi

step "ONNX checker chroot"
checker=1
if ! scripts/checker-env.sh; then
	if [[ ${CI:-} == true || ${CI:-} == 1 ]]; then
		echo "test.sh: ERROR: scripts/checker-env.sh failed" >&2
		exit 1
	fi
	echo "test.sh: warning: no ONNX checker chroot (needs root to build); tests that use it will fail" >&2
	checker=
fi

export ONNXQ_TESTDATA=$ROOT/testdata/models/.cache
export ONNXRUNTIME_LIB=$ONNXQ_TESTDATA/ort/libonnxruntime.so.1
if [[ -n $checker ]]; then
	export ONNXQ_CHECKER=$ROOT/scripts/onnx-check
else
	unset ONNXQ_CHECKER
fi
echo "ONNXQ_TESTDATA=$ONNXQ_TESTDATA"
echo "ONNXRUNTIME_LIB=$ONNXRUNTIME_LIB"
echo "ONNXQ_CHECKER=${ONNXQ_CHECKER:-}"

step "go vet ./..."
go vet ./...

written=$(mktemp -d)
trap 'rm -rf "$written"' EXIT
export ONNXQ_WRITTEN_DIR=$written

step "go test -count=1 -timeout 30m ./..."
go test -count=1 -timeout 30m ./...

step "models written by the tests: official checker + ONNX Runtime 1.30"
nochecker=()
[[ -n $checker ]] || nochecker=(--no-checker)
scripts/check-written.sh "${nochecker[@]}" "$written"

fuzztime=${ONNXQ_FUZZTIME:-60s}
fuzzdirs=()
if [[ -d onnxio && $fuzztime != 0 ]]; then
	mapfile -t fuzzdirs < <(grep -rlE --include='*_test.go' '^func FuzzLoad\(' onnxio | xargs -r -n1 dirname | sort -u)
fi
if ((${#fuzzdirs[@]} == 0)); then
	echo
	echo "(no FuzzLoad in onnxio, or ONNXQ_FUZZTIME=0: fuzzing skipped)"
fi
for d in "${fuzzdirs[@]}"; do
	step "go test -run='^\$' -fuzz='^FuzzLoad\$' -fuzztime=$fuzztime ./$d/"
	go test -run='^$' -fuzz='^FuzzLoad$' -fuzztime="$fuzztime" "./$d/"
done

step "all tests passed"
