#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh SRC_DIR BUILD_DIR: build the libFuzzer target over tokex's codec
# with clang (the main build uses gcc), generate a seed corpus of valid messages, and fuzz
# for a bounded time. Exit 0 clean, 1 on a finding (the crashing input is left in
# BUILD_DIR), 77 (CTest skip) when clang or its fuzzer runtime is missing.
#   TKX_FUZZ_SECONDS  how long to fuzz (default 20)
#   TKX_FUZZ_CC       the compiler (default clang)
set -euo pipefail

src=${1:?usage: run_fuzz.sh SRC_DIR BUILD_DIR}
out=${2:?usage: run_fuzz.sh SRC_DIR BUILD_DIR}
secs=${TKX_FUZZ_SECONDS:-20}
cc=${TKX_FUZZ_CC:-clang}
mkdir -p "$out"

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "SKIP: $cc not found; scripts/setup installs clang and libclang-rt-14-dev"
  exit 77
fi
# A trivial fuzzer proves the compiler has libFuzzer and the sanitizer runtimes.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
  'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
  >"$out/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" >"$out/probe.log" 2>&1; then
  echo "SKIP: $cc cannot link a libFuzzer target (libclang-rt-14-dev missing?):"
  cat "$out/probe.log"
  exit 77
fi

cflags=(-std=gnu11 -g -O1 -fno-omit-frame-pointer
        -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wcast-qual
        -Wundef -Wvla -Wwrite-strings -Werror
        -I"$src/include" -I"$src/tests/proto")
srcs=("$src/tests/fuzz/fuzz_decode.c" "$src/dataplane/proto/codec.c")
deps=("${srcs[@]}" "$src/include/tokex/codec.h" "$src/include/tokex/proto.h"
      "$src/tests/proto/codec_samples.h" "$0")

stale=0
for f in "$out/fuzz_decode" "$out/fuzz_seedgen"; do
  [[ -x $f ]] || stale=1
  for d in "${deps[@]}"; do
    [[ -x $f && $d -nt $f ]] && stale=1
  done
done
if ((stale)); then
  "$cc" "${cflags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    "${srcs[@]}" -lcrypto -lsodium -o "$out/fuzz_decode"
  "$cc" "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
    -DTKX_FUZZ_SEEDGEN "${srcs[@]}" -lcrypto -lsodium -o "$out/fuzz_seedgen"
fi

# Seeds are made fresh from the current codec; the corpus starts from them every run.
rm -rf "$out/seeds" "$out/corpus"
mkdir -p "$out/seeds" "$out/corpus"
"$out/fuzz_seedgen" "$out/seeds"

rc=0
"$out/fuzz_decode" -max_total_time="$secs" -rss_limit_mb=1024 -timeout=10 -max_len=2048 \
  -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" "$out/seeds" \
  >"$out/fuzz.log" 2>&1 || rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log")
if ((rc != 0)); then
  tail -n 60 "$out/fuzz.log"
  echo "FAIL: fuzz_decode exited $rc; the input is in $out/ (crash-*, leak-*, timeout-*)"
  exit 1
fi
grep -E '^(INFO: seed corpus|#[0-9]+ +DONE|stat::)' "$out/fuzz.log" || true
echo "fuzz_decode: ${execs:-?} executions in ${secs}s, $(ls "$out/corpus" | wc -l) corpus inputs"
