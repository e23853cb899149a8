#!/usr/bin/env bash
# Side-by-side benchmark of onnxq against ONNX Runtime's own quantizer
# (onnxruntime.quantization.quantize_static, ORT 1.21 Python from Debian 13)
# on PP-OCRv4 det, both BlazeFace models and mnist-7, with the same inputs;
# every model measured in ONNX Runtime 1.30 on one thread. Prints one table
# per model with the ratios and writes them as JSON. See docs/bench-vs-ort.md.
#
#   scripts/bench-vs-ort.sh
#   MODELS=blazeface-front,mnist-7 RUNS=50 scripts/bench-vs-ort.sh
#
# Environment:
#   MODELS        comma-separated subset of ppocr-det, blazeface-front,
#                 blazeface-back, mnist-7 (default: all)
#   RUNS          timed inferences per model, the median is reported (20)
#   BENCH_DIR     work folder: data, models, binaries (out/bench-vs-ort);
#                 must be inside the repository or /tmp, the folders the
#                 chroot sees
#   BENCH_JSON    the results (out/bench-vs-ort.json)
#   RSS_LIMIT_MB  an ORT quantization above this RSS is killed and reported
#                 as failed (12000; the machine has 24 GB)
#
# Steps (all cached where they can be): scripts/fetch-testdata.sh (reference
# models, photos, MNIST, ONNX Runtime 1.30), scripts/checker-env.sh (the
# Debian 13 chroot with onnx 1.17 and onnxruntime 1.21), go build of onnxq
# (static, CGO_ENABLED=0: the shipped binary) and of the measuring program
# scripts/internal/benchvsort (cgo: it loads ONNX Runtime), then:
#   1. benchvsort prepare: calibration and held-out inputs as .npz
#   2. scripts/bench_vs_ort.py in the chroot: quantize_static, 12 variants
#   3. benchvsort run: onnxq insert-qdq variants, then fidelity, latency
#      and op types of every model in ONNX Runtime 1.30, tables and JSON
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

OUT=${BENCH_DIR:-$ROOT/out/bench-vs-ort}
JSON=${BENCH_JSON:-$ROOT/out/bench-vs-ort.json}
RUNS=${RUNS:-20}
MODELS=${MODELS:-}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-12000}
export ONNXQ_TESTDATA=${ONNXQ_TESTDATA:-$ROOT/testdata/models/.cache}
ORT_LIB=${ONNXRUNTIME_LIB:-$ONNXQ_TESTDATA/ort/libonnxruntime.so.1}

mkdir -p "$OUT/bin" "$(dirname "$JSON")"
OUT=$(cd "$OUT" && pwd)

echo "# bench-vs-ort: $(date -u '+%Y-%m-%d %H:%M UTC'), onnxq $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' (working tree with changes)')"
echo "# machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(free -g | awk '/^Mem:/ { print $2 " GB RAM" }')"
echo "# load before: $(uptime)"

echo "== reference data and tools" >&2
scripts/fetch-testdata.sh >&2
scripts/checker-env.sh >&2
CGO_ENABLED=0 go build -o "$OUT/bin/onnxq" ./cmd/onnxq
CGO_ENABLED=1 go build -o "$OUT/bin/benchvsort" ./scripts/internal/benchvsort

echo "== inputs" >&2
"$OUT/bin/benchvsort" prepare -dir "$OUT" -testdata "$ONNXQ_TESTDATA"

echo "== ONNX Runtime's quantize_static (onnxruntime 1.21 in the Debian 13 chroot)" >&2
rm -rf "$OUT/ort"
scripts/chroot-python "$ROOT/scripts/bench_vs_ort.py" --manifest "$OUT/manifest.json" --out "$OUT/ort" \
	--rss-limit-mb "$RSS_LIMIT_MB" ${MODELS:+--models "$MODELS"}

echo "== onnxq, then measurement in ONNX Runtime 1.30" >&2
rm -rf "$OUT/onnxq"
"$OUT/bin/benchvsort" run -dir "$OUT" -onnxq "$OUT/bin/onnxq" -ort-lib "$ORT_LIB" -json "$JSON" -runs "$RUNS" \
	${MODELS:+-models "$MODELS"}

echo
echo "# load after: $(uptime)"
echo "# results: $JSON"
