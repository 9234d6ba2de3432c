#!/usr/bin/env bash
# The Swift test suite under ThreadSanitizer and AddressSanitizer:
#   bash Tests/sanitizers.sh [thread|address]...   (both when none is named)
#
# Each sanitizer builds into its own folder (.build-tsan, .build-asan): a first build takes
# several minutes. Uses the venv that `bash Tests/run.sh` creates for the python peers, when it
# is there. Exits non-zero if any run failed or a sanitizer reported anything.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ -x "$ROOT/.build/venv/bin/python" ]; then
    export PARLEY_PYTHON="$ROOT/.build/venv/bin/python"
fi

MODES=("$@")
[ "${#MODES[@]}" -eq 0 ] && MODES=(thread address)

FAILED=()
for mode in "${MODES[@]}"; do
    case "$mode" in
        thread) scratch=.build-tsan ;;
        address) scratch=.build-asan ;;
        *) echo "unknown sanitizer: $mode (thread or address)" >&2; exit 2 ;;
    esac
    log="$ROOT/$scratch/sanitizer-test.log"
    mkdir -p "$ROOT/$scratch"
    printf '\n========== swift test --sanitize=%s ==========\n' "$mode"
    # halt_on_error=0: report every finding of the run, not only the first.
    TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1" ASAN_OPTIONS="halt_on_error=0 detect_leaks=0" \
        swift test --sanitize="$mode" --scratch-path "$scratch" --no-parallel 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    reports=$(grep -c -E "^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: AddressSanitizer)" "$log")
    echo "sanitizer=$mode exit=$status reports=$reports (log: $log)"
    if [ "$status" -ne 0 ] || [ "$reports" -ne 0 ]; then FAILED+=("$mode"); fi
done

if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "FAILED: ${FAILED[*]}"
    exit 1
fi
echo "sanitizers clean: ${MODES[*]}"
