#!/usr/bin/env bash
# Times `braidctl policy eval FILE --batch` on a million flows against a
# 64K-rule policy (issue: "a million lines against a 64K-rule policy in
# seconds, not minutes"), and checks every answer.
#
# gen_policy (bench/gen_policy.cc) writes the policy, the flows as JSON lines
# and the decisions the compiled table gives for them. The script then times
# braidctl twice: with no input (reading and compiling the policy alone), and
# with all the flows; it checks that there is one output line per input line
# and that each equals the expected decision.
#
# Usage: bench/batch_eval.sh [KIND]   KIND: realistic (default) or adversarial
# Environment: BUILD (build dir, default build-bench), RULES (65536),
# FLOWS (1000000), SEED (1), WORK (scratch dir, default $BUILD/batch-eval).
# Prints a summary and writes it as key=value lines to
# $WORK/KIND.result for bench/run_sft_bench.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
kind=${1:-realistic}
build=${BUILD:-build-bench}
rules=${RULES:-65536}
flows=${FLOWS:-1000000}
seed=${SEED:-1}
work=${WORK:-$build/batch-eval}
braidctl=$build/braidctl/braidctl
gen_policy=$build/bench/gen_policy

for tool in "$braidctl" "$gen_policy"; do
  if [ ! -x "$tool" ]; then
    echo "batch_eval: $tool not built; run bench/run_sft_bench.sh or build it" >&2
    exit 1
  fi
done
mkdir -p "$work"
policy=$work/$kind-$rules.json
input=$work/$kind-$rules.flows.jsonl
expect=$work/$kind-$rules.expect.jsonl
output=$work/$kind-$rules.out.jsonl

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

echo "batch_eval: generating $rules $kind rules and $flows flows" >&2
"$gen_policy" --kind "$kind" --rules "$rules" --flows "$flows" --seed "$seed" \
  --policy "$policy" --flows-out "$input" --expect-out "$expect"

# Load and compile alone: the fixed cost every batch pays once.
t0=$(now)
"$braidctl" policy eval "$policy" --batch </dev/null >/dev/null
t1=$(now)
startup=$(elapsed "$t0" "$t1")

t0=$(now)
"$braidctl" policy eval "$policy" --batch <"$input" >"$output"
t1=$(now)
total=$(elapsed "$t0" "$t1")

lines_in=$(wc -l <"$input")
lines_out=$(wc -l <"$output")
errors=$(grep -c '"error"' "$output" || true)
if cmp -s "$expect" "$output"; then
  check=ok
else
  # Same count but different bytes: say how many lines differ.
  differ=$(paste -d '\n' "$expect" "$output" | awk 'NR % 2 { e = $0; next } $0 != e { n++ } END { print n + 0 }')
  check="FAILED ($differ of $lines_in lines differ from the compiled table's answers)"
fi
per_second=$(awk -v n="$lines_in" -v t="$total" -v s="$startup" \
  'BEGIN { d = t - s; if (d <= 0) d = t; printf "%.0f", n / d }')

cat >"$work/$kind.result" <<EOF
kind=$kind
rules=$rules
lines=$lines_in
output_lines=$lines_out
error_lines=$errors
startup_s=$startup
total_s=$total
lines_per_s=$per_second
check=$check
EOF
echo "batch_eval: $kind, $rules rules, $lines_in lines: ${total}s in all, ${startup}s of it loading the policy;" \
  "$per_second lines/s after that; $lines_out output lines, $errors errors; answers $check"
rm -f "$input" "$output" "$expect"
[ "$check" = ok ] && [ "$lines_out" = "$lines_in" ]
