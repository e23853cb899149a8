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
# Needs the reference data (scripts/fetch-testdata.sh). Results measured
# here are in docs/ptq.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export ONNXQ_TESTDATA=${ONNXQ_TESTDATA:-$ROOT/testdata/models/.cache}
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$ONNXQ_TESTDATA/ort/libonnxruntime.so.1}
OUT=${OUT:-out/bench-calibration.json}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "building onnxq (CGO_ENABLED=0) and benchcalib" >&2
CGO_ENABLED=0 go build -o "$tmp/onnxq" ./cmd/onnxq
CGO_ENABLED=1 go build -o "$tmp/benchcalib" ./scripts/internal/benchcalib
mkdir -p "$(dirname "$OUT")"
echo "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
"$tmp/benchcalib" -onnxq "$tmp/onnxq" -ort-lib "$ONNXRUNTIME_LIB" -json "$OUT" -cases "${1:-}"
echo "JSON: $OUT"
