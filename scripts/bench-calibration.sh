#!/usr/bin/env bash
# Benchmark calibration: `onnxq calibrate` on N samples with the Go engine
# against ONNX Runtime 1.30 running the same float model over the same
# samples, one thread each; and the peak memory (RSS) of each against the
# model's size.
#
#   scripts/bench-calibration.sh                  # every case
#   scripts/bench-calibration.sh mnist-7/200,ppocr-det-640/10
#
# Cases: mnist-7 on 200 and 10000 MNIST training images (calibration memory
# must not grow with the samples), BlazeFace front and back on the 10
# reference photos, PP-OCRv4 det on the 10 photos at a fixed 640x640
# (preset ppocr-det-640). It builds the static onnxq binary
# (CGO_ENABLED=0), then runs scripts/internal/benchcalib (cgo, for ONNX
# Runtime), which measures each side in a process of its own: wall time,
# CPU time (user + system) and peak RSS from getrusage. onnxq runs with
# GOMAXPROCS=1. The table also shows the CPU time per additional sample,
# (t(N) - t(1)) / (N - 1), free of start-up costs; each measurement runs 3
# times and the fastest counts (the CPU time is the steadier figure when
# other work shares the machine).
# JSON results go to $OUT (default out/bench-calibration.json).
#
# Case ppocr-det-640-entropy/27 is issue 7's memory budget: the static
# onnxq binary calibrating PP-OCRv4 det at 640x640 with --method entropy
# on the 27 photos of the reference item photos27, and on the first 1, 5
# and 10 of them (the peak must not grow with the samples), with `onnxq
# calibrate` and `onnxq insert-qdq`, each with GOMAXPROCS=1 and with every
# core (scripts/internal/benchcalibmem): wall time, CPU time, peak RSS in
# MB and as a share of 1 GB (ONNX Runtime's Python calibrators need
# 19.7 GB there). It runs no ONNX Runtime side; its JSON goes to $OUT_MEM
# (default out/bench-calibration-memory.json).
#
#   scripts/bench-calibration.sh ppocr-det-640-entropy/27   # that case only
#
# Needs the reference data (scripts/fetch-testdata.sh). Results measured
# here are in docs/ptq.md; the memory case's in docs/bench-vs-ort.md
# ("Calibration memory at 27 photos").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export ONNXQ_TESTDATA=${ONNXQ_TESTDATA:-$ROOT/testdata/models/.cache}
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$ONNXQ_TESTDATA/ort/libonnxruntime.so.1}
OUT=${OUT:-out/bench-calibration.json}
OUT_MEM=${OUT_MEM:-out/bench-calibration-memory.json}
MEM_CASE=ppocr-det-640-entropy/27

# Split the requested cases between benchcalib and the memory case.
cases=${1:-} calib_cases='' run_mem=''
if [[ -z $cases ]]; then
	run_mem=1
else
	IFS=, read -ra requested <<<"$cases"
	for c in "${requested[@]}"; do
		if [[ $c == "$MEM_CASE" ]]; then
			run_mem=1
		elif [[ -n $c ]]; then
			calib_cases+=${calib_cases:+,}$c
		fi
	done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "building onnxq (CGO_ENABLED=0), benchcalib and benchcalibmem" >&2
CGO_ENABLED=0 go build -o "$tmp/onnxq" ./cmd/onnxq
CGO_ENABLED=1 go build -o "$tmp/benchcalib" ./scripts/internal/benchcalib
CGO_ENABLED=0 go build -o "$tmp/benchcalibmem" ./scripts/internal/benchcalibmem
mkdir -p "$(dirname "$OUT")" "$(dirname "$OUT_MEM")"
echo "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
if [[ -z $cases || -n $calib_cases ]]; then
	"$tmp/benchcalib" -onnxq "$tmp/onnxq" -ort-lib "$ONNXRUNTIME_LIB" -json "$OUT" -cases "$calib_cases"
	echo "JSON: $OUT"
fi
if [[ -n $run_mem ]]; then
	echo
	"$tmp/benchcalibmem" -onnxq "$tmp/onnxq" -json "$OUT_MEM"
	echo "JSON: $OUT_MEM"
fi
