#!/usr/bin/env bash
# Training speed of quantization-aware training against float training on
# the same engine: optimizer steps per second (batch 32, Adam,
# cross-entropy) of mnist-7 and of a wider conv net built in code (three
# 3x3 convs of 64 channels on 3x32x32), QAT (the 8-bit PTQ model with
# fake quantization) and float (the same graph without it), with batches
# run at once in a re-batched copy of the model and accumulated sample by
# sample. Prints a table; each benchmark runs COUNT times and the table
# shows the fastest run (on a shared machine the slower runs measure the
# neighbours).
#
#   scripts/bench-qat.sh                 # BENCHTIME=20x COUNT=3
#   BENCHTIME=50x COUNT=5 scripts/bench-qat.sh
#
# It runs qat.BenchmarkTrainStep (qat/bench_test.go); needs the reference
# data (scripts/fetch-testdata.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCHTIME=${BENCHTIME:-20x}
COUNT=${COUNT:-3}

go test ./qat -run '^$' -bench 'BenchmarkTrainStep' -benchtime "$BENCHTIME" -count "$COUNT" |
	awk '
	/^BenchmarkTrainStep\// {
		name = $1; sub(/^BenchmarkTrainStep\//, "", name); sub(/-[0-9]+$/, "", name)
		for (i = 2; i < NF; i++) {
			if ($(i+1) == "steps/s" && $i > steps[name]) steps[name] = $i
			if ($(i+1) == "samples/s" && $i > samples[name]) samples[name] = $i
		}
		if (!(name in seen)) { seen[name] = 1; order[n++] = name }
	}
	END {
		printf "%-28s %10s %10s %12s\n", "model/kind/batching", "steps/s", "samples/s", "QAT/float"
		for (i = 0; i < n; i++) {
			name = order[i]; ratio = ""
			if (name ~ /\/qat\//) {
				twin = name; sub(/\/qat\//, "/float/", twin)
				if (steps[twin] > 0) ratio = sprintf("%.2f", steps[name] / steps[twin])
			}
			printf "%-28s %10.2f %10.1f %12s\n", name, steps[name], samples[name], ratio
		}
	}'
