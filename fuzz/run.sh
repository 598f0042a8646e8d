#!/usr/bin/env bash
# Fuzz each target for a bounded time: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# (default 60 s each, every target). Needs cargo-fuzz (`cargo install cargo-fuzz`); runs on a
# stable toolchain (RUSTC_BOOTSTRAP=1, no sanitizer: `-s none`, libFuzzer's coverage only).
# New inputs go to fuzz/work/<target>/ (not committed); crashes to fuzz/artifacts/<target>/.
# A crash found: copy it to fuzz/regressions/<target>/ (replayed by host/tests/fuzz_corpus.rs)
# and fix it. Exits 1 if any target crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(scenario_file toxiproxy_api report_json component_bytes plugin_results journal_merge schedule_file toxic_attributes toxiproxy_client)
export RUSTC_BOOTSTRAP=1
target_dir="${CARGO_TARGET_DIR:-fuzz/target}"

cargo fuzz build -O -s none --fuzz-dir fuzz || exit 1

failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/work/$t" "fuzz/corpus/$t"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1)
  dirs=("fuzz/work/$t" "fuzz/corpus/$t")
  if [ "$t" = component_bytes ]; then
    # The real plugins, built from plugins/ by the plugin-artifacts build script, are the seeds.
    mkdir -p fuzz/work/component_seeds
    find "$target_dir" -path '*plugin-artifacts-*/out/target/wasm32-wasip2/release/*.wasm' -exec cp {} fuzz/work/component_seeds/ \;
    dirs+=(fuzz/work/component_seeds)
    # Compiling a 100 KB component takes about 0.5 s of CPU (instrumented build); a mutated
    # one can take a few times that, more on a loaded machine.
    args+=(-max_len=262144 -timeout=60)
  fi
  if [ "$t" = journal_merge ]; then
    # A merge must allocate in proportion to its journals, not to what their fields claim.
    args+=(-malloc_limit_mb=512 -max_len=65536)
  fi
  echo "== $t: ${secs}s"
  if ! cargo fuzz run -O -s none --fuzz-dir fuzz "$t" "${dirs[@]}" -- "${args[@]}"; then
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashes in: ${failed[*]} (see fuzz/artifacts/)"
  exit 1
fi
