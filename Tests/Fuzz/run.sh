#!/usr/bin/env bash
# Builds the libFuzzer targets of Tests/Fuzz with AddressSanitizer and runs each of them:
#
#   bash Tests/Fuzz/run.sh [--runs N | --seconds S] [TARGET...]
#
# Default: --seconds 20 per target. Each target starts from seeds made from Protocol/vectors
# (make-corpus.py) plus the corpus it grew in earlier runs (.build-fuzz/corpus/TARGET). Prints
# the executions and executions per second of every target; exits non-zero if any target
# crashed, trapped, leaked or timed out (the input is kept in .build-fuzz/artifacts/).
#
# Environment: FUZZ_SKIP_BUILD=1 reuses the last build; FUZZ_CONFIGURATION (release by
# default; debug works too, slower); FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail
{

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ALL_TARGETS=(FuzzEnginePacket FuzzPollingPayload FuzzSocketDecoder FuzzJSONScanner FuzzWebSocketFrames FuzzHTTPPipeline)
SCRATCH="$ROOT/.build-fuzz"
CONFIGURATION="${FUZZ_CONFIGURATION:-release}"
LIMIT=(-max_total_time=20)
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) LIMIT=("-runs=$2"); shift 2 ;;
        --seconds) LIMIT=("-max_total_time=$2"); shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        Fuzz*) TARGETS+=("$1"); shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
if [ "${#TARGETS[@]}" -eq 0 ]; then
    TARGETS=("${ALL_TARGETS[@]}")
fi

# SwiftPM's --sanitize flags instrument the C targets and make SwiftPM link libFuzzer's main
# instead of the target's own entry point; but they reach swiftc as two -sanitize flags, of
# which it keeps only the last (the Swift code would get no coverage counters), so a
# comma-joined one follows and wins. -parse-as-library: the targets have no main of their own.
BUILD=(swift build --package-path Tests/Fuzz --scratch-path "$SCRATCH" -c "$CONFIGURATION"
       --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    echo "+ ${BUILD[*]}"
    "${BUILD[@]}"
fi
BIN="$("${BUILD[@]}" --show-bin-path)"

python3 Tests/Fuzz/make-corpus.py "$SCRATCH/seeds" >/dev/null
mkdir -p "$SCRATCH/artifacts" "$SCRATCH/logs"

FAILED=()
SUMMARY=()
for target in "${TARGETS[@]}"; do
    corpus="$SCRATCH/corpus/$target"
    log="$SCRATCH/logs/$target.log"
    mkdir -p "$corpus"
    echo "+ $target ${LIMIT[*]}"
    extra=()
    asan_options="${ASAN_OPTIONS:-}"
    # Inputs that once found a defect are replayed first.
    regressions="$ROOT/Tests/Fuzz/Regressions/$target"
    [ -d "$regressions" ] && extra+=("$regressions")
    set +e
    # Leak checks are on: a reference cycle left by one input shows up as a leak.
    ASAN_OPTIONS="$asan_options" "$BIN/$target" "${LIMIT[@]}" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$SCRATCH/artifacts/$target-" ${FUZZ_ARGS:-} "$corpus" "$SCRATCH/seeds/$target" "${extra[@]}" >"$log" 2>&1
    status=$?
    set -e
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    if [ "$status" -eq 0 ]; then
        verdict="ok"
    else
        verdict="FAILED (status $status, log $log)"
        FAILED+=("$target")
        grep -E "^(==[0-9]+==ERROR|SUMMARY|Fatal error|.*Precondition failed|.*Fatal error|artifact_prefix|Test unit written)" "$log" | head -10 || true
    fi
    SUMMARY+=("$(printf '%-20s %12s execs %9s exec/s  %s' "$target" "${runs:-?}" "${rate:-?}" "$verdict")")
done

echo
echo "fuzz summary ($CONFIGURATION, ${LIMIT[*]} per target)"
printf '  %s\n' "${SUMMARY[@]}"
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "fuzz: crashes in ${FAILED[*]}"
    exit 1
fi
echo "fuzz: no crash in ${#TARGETS[@]} targets"
exit 0
}
