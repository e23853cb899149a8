#!/usr/bin/env bash
# Time one inference of each reference model on onnxq's Go engine and on
# ONNX Runtime 1.30, both on one thread, and print a table of ms/inference
# and the ratio Go/ORT (the project aims at <= 3).
#
#   scripts/bench.sh                 # BENCHTIME=2s COUNT=3
#   BENCHTIME=20x COUNT=5 scripts/bench.sh
#
# It runs the Go benchmark engine.BenchmarkModels (engine/bench_ort_test.go):
# the Go engine with engine.SetThreads(1) and gemm.SetThreads(1), ONNX
# Runtime with one intra-op thread and all graph optimizations, on real
# inputs (an MNIST digit, messi5.jpg for BlazeFace, building.jpg at 640x640
# for PP-OCRv4 det). Each benchmark runs COUNT times and the table shows the
# fastest run: on a shared machine the slower runs measure the neighbours.
# It shows wall-clock and CPU time (user + system of the whole process) per
# inference: on a busy machine the CPU time is the steadier measure of the
# work. GOMAXPROCS is left alone, so the Go runtime's garbage collector may
# use a second core (as in a real onnxq process); its CPU time is counted.
#
# Needs the reference data (scripts/fetch-testdata.sh) and cgo (ONNX Runtime
# is loaded through onnxruntime_go); the library is $ONNXRUNTIME_LIB or the
# copy in the reference data.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCHTIME=${BENCHTIME:-2s}
COUNT=${COUNT:-3}
export ONNXQ_TESTDATA=${ONNXQ_TESTDATA:-$ROOT/testdata/models/.cache}
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$ONNXQ_TESTDATA/ort/libonnxruntime.so.1}
export CGO_ENABLED=1

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "go test ./engine -run '^\$' -bench BenchmarkModels -benchtime $BENCHTIME -count $COUNT" >&2
if ! go test ./engine -run '^$' -bench BenchmarkModels -benchtime "$BENCHTIME" -count "$COUNT" >"$out" 2>&1; then
	cat "$out" >&2
	echo "bench.sh: the benchmark failed" >&2
	exit 1
fi
grep -E '^(cpu|goos|goarch):' "$out" >&2 || true

# Lines look like (the metrics in any order):
#   BenchmarkModels/mnist-7/go-2  10000  697722 ns/op  0.1363 cpu-ms/inference  0.6979 ms/inference
awk '
/^BenchmarkModels\// {
	split($1, p, "/")
	model = p[2]; eng = p[3]; sub(/-[0-9]+$/, "", eng)
	for (i = 3; i <= NF; i++) {
		if ($i == "ms/inference") kind = "wall"
		else if ($i == "cpu-ms/inference") kind = "cpu"
		else continue
		key = model SUBSEP eng SUBSEP kind; v = $(i-1) + 0
		if (!(key in best) || v < best[key]) best[key] = v
	}
	if (!(model in seen)) { seen[model] = 1; order[++n] = model }
}
function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
END {
	if (n == 0) { print "bench.sh: no benchmark results" > "/dev/stderr"; exit 1 }
	printf "| %-16s | %10s | %10s | %7s | %10s | %10s | %7s |\n", "model", "Go ms", "ORT ms", "Go/ORT", "Go CPU ms", "ORT CPU ms", "Go/ORT"
	printf "|------------------|-----------:|-----------:|--------:|-----------:|-----------:|--------:|\n"
	for (i = 1; i <= n; i++) {
		m = order[i]
		gw = best[m, "go", "wall"]; ow = best[m, "ort", "wall"]; gc = best[m, "go", "cpu"]; oc = best[m, "ort", "cpu"]
		printf "| %-16s | %10.3f | %10.3f | %7s | %10.3f | %10.3f | %7s |\n", m, gw, ow, ratio(gw, ow), gc, oc, ratio(gc, oc)
	}
}' "$out"
