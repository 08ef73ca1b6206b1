#!/usr/bin/env bash
# Fuzz every parser of the l402 core for a bounded time each.
#
#   bash fuzz/run.sh            # 20 s per target (what CI runs)
#   bash fuzz/run.sh 600        # 10 minutes per target
#   bash fuzz/run.sh 3600 challenge   # one target for an hour
#
# Needs cargo-fuzz (installed here if missing). Runs on the stable toolchain
# with `-s none` (coverage-guided libFuzzer, no sanitizer: the crate forbids
# unsafe code). A crash leaves its input in fuzz/artifacts/<target>/ and fails
# this script; reproduce it with `cargo fuzz run -s none -O <target> <file>`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
seconds="${1:-20}"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(macaroon challenge credential invoice caveats)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (once)" >&2
    cargo install cargo-fuzz --locked --quiet
fi
cargo fuzz build -s none -O
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "fuzz: $target for ${seconds}s" >&2
    log="corpus/$target.log"
    if ! cargo fuzz run -s none -O "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz: $target FAILED; the crashing input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units)' "$log" >&2 || true
done
echo "fuzz: all targets ran ${seconds}s without a crash" >&2
