#!/usr/bin/env bash
# Run onnxq's main job on a real model:
#
#   scripts/quickstart.sh
#
# 1. scripts/fetch-testdata.sh   fetch the reference models and data (cached
#                                and SHA-256-checked in testdata/models/.cache/)
# 2. go build                    the static onnxq binary (CGO_ENABLED=0) at the
#                                repository root
# 3. onnxq quantize              quantize mnist-7 (ONNX model zoo MNIST CNN) to
#                                int8 QDQ: calibrated on 200 MNIST training images,
#                                distilled from the float model on 160 of them, the
#                                better of PTQ and distilled kept (judged on the
#                                other 40), exported
# 4. onnxq eval                  top-1 of the float and the quantized model on
#                                the 10,000 MNIST test images
# 5. onnxq inspect               what the quantized model holds
#
# Outputs go to out/quickstart/. Every step is a real command; the script
# stops at the first one that fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n=== %s\n' "$*"; }

step "scripts/fetch-testdata.sh"
scripts/fetch-testdata.sh

step "CGO_ENABLED=0 go build -o onnxq ./cmd/onnxq"
CGO_ENABLED=0 go build -o onnxq ./cmd/onnxq
./onnxq --version

DATA=testdata/models/.cache
OUT=out/quickstart
mkdir -p "$OUT"

step "./onnxq quantize mnist-7.onnx (200 calibration images)"
./onnxq quantize "$DATA/mnist-7.onnx" \
	--calib "$DATA/mnist/train-images-idx3-ubyte.gz" --preprocess mnist-7 --limit 200 \
	-o "$OUT/mnist-7.qdq.onnx" --report "$OUT/mnist-7.report.json"

step "./onnxq eval: float model on 10,000 test images"
./onnxq eval "$DATA/mnist-7.onnx" \
	--mnist "$DATA/mnist/t10k-images-idx3-ubyte.gz" --mnist-labels "$DATA/mnist/t10k-labels-idx1-ubyte.gz"

step "./onnxq eval: quantized model on 10,000 test images"
./onnxq eval "$OUT/mnist-7.qdq.onnx" \
	--mnist "$DATA/mnist/t10k-images-idx3-ubyte.gz" --mnist-labels "$DATA/mnist/t10k-labels-idx1-ubyte.gz"

step "./onnxq inspect $OUT/mnist-7.qdq.onnx"
./onnxq inspect "$OUT/mnist-7.qdq.onnx"
