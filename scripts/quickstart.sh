#!/usr/bin/env bash
# Try onnxq on a real model:
#
#   scripts/quickstart.sh
#
# 1. scripts/fetch-testdata.sh   fetch the reference models (cached and
#                                SHA-256-checked in testdata/models/.cache/)
# 2. go build                    the static onnxq binary (CGO_ENABLED=0) at
#                                the repository root
# 3. onnxq inspect               summarise mnist-7 (ONNX model zoo MNIST CNN):
#                                versions, inputs/outputs, operators, parameters
#
# Every step is a real command; it stops at the first one that fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n=== %s\n' "$*"; }

step "scripts/fetch-testdata.sh"
scripts/fetch-testdata.sh

step "CGO_ENABLED=0 go build -o onnxq ./cmd/onnxq"
CGO_ENABLED=0 go build -o onnxq ./cmd/onnxq
./onnxq --version

MODEL=testdata/models/.cache/mnist-7.onnx
step "./onnxq inspect $MODEL"
./onnxq inspect "$MODEL"
