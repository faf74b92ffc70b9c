#!/usr/bin/env bash
# Builds and runs the SFT benchmarks and writes bench/RESULTS.md: the Google
# Benchmark sft_bench (lookups compiled vs linear, compile time, memory, at
# 1 to 64K rules, realistic and adversarial rule sets) and bench/batch_eval.sh
# (braidctl policy eval --batch, a million lines against 64K rules).
#
# Usage: bench/run_sft_bench.sh
# Environment: BUILD (default build-bench), REPS (repetitions, default 5),
# JOBS (build parallelism, default 1: the machine is shared).
set -euo pipefail

cd "$(dirname "$0")/.."
build=${BUILD:-build-bench}
reps=${REPS:-5}
jobs=${JOBS:-1}
export BRAID_BENCH_BUILD_TYPE=Release

# Tests are not needed here, and leaving them out keeps this build from
# depending on the state of every test directory.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBRAID_BUILD_BENCH=ON -DBRAID_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target sft_bench gen_policy braidctl

json=$build/sft_bench.json
echo "run_sft_bench: sft_bench, $reps repetitions (a few minutes)" >&2
"$build/bench/sft_bench" --benchmark_repetitions="$reps" \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="$json" --benchmark_out_format=json

results=()
for kind in realistic adversarial; do
  BUILD=$build bench/batch_eval.sh "$kind" || echo "run_sft_bench: batch_eval $kind failed" >&2
  results+=("$build/batch-eval/$kind.result")
done

python3 bench/render_results.py "$json" bench/RESULTS.md "${results[@]}"
echo "run_sft_bench: wrote bench/RESULTS.md" >&2
