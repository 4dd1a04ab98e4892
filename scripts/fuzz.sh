#!/usr/bin/env bash
# Fuzzing with SharpFuzz + AFL++ (fuzz/Butterfly.Fuzz: api, envelope, textformat, logrecord, packet).
#   scripts/fuzz.sh smoke [SECONDS]          every target for SECONDS (default 5) from its corpus,
#                                            then the corpus and fuzz/regressions/ replayed; exit 1
#                                            on any crash (CI runs this)
#   scripts/fuzz.sh campaign TARGET|all HOURS [EXECS]   a long run per target (findings in
#                                            build/fuzz/TARGET), ending after HOURS or EXECS executions,
#                                            whichever comes first; copy a crash into
#                                            fuzz/regressions/TARGET/ to keep it
# Needs afl++ (scripts/setup.sh --test installs it) and the sharpfuzz dotnet tool (dotnet tool restore).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/build/fuzz
targets=(api envelope textformat logrecord packet)

build() {
    dotnet tool restore >/dev/null
    rm -rf "$out" && mkdir -p "$out"
    dotnet build fuzz/Butterfly.Fuzz -c Release -nologo -v quiet -o "$out/plain" >/dev/null
    # Coverage feedback from the code under test: SharpFuzz rewrites these assemblies in place,
    # in a copy (instrumented code only runs under afl-fuzz; replays use the plain build).
    cp -r "$out/plain" "$out/bin"
    for dll in butterflyd.dll butterfly.dll Butterfly.Application.dll Butterfly.Domain.dll Butterfly.Infrastructure.Events.dll \
               Butterfly.Infrastructure.Dpdk.dll; do
        dotnet tool run sharpfuzz "$out/bin/$dll" >/dev/null
    done
}

afl() { # TARGET SECONDS OUTDIR [EXECS]
    # dotnet is not instrumented itself (SharpFuzz speaks the fork-server protocol from inside),
    # CPUs are shared (no binding, no frequency check), and crashes are kept by AFL, not cores.
    AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 \
    AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_FORKSRV_INIT_TMOUT=30000 \
        afl-fuzz -i "fuzz/corpus/$1" -o "$3" -V "$2" ${4:+-E "$4"} -t 5000 -m none -- dotnet "$out/bin/Butterfly.Fuzz.dll" "$1" >"$3.log" 2>&1
}

case "${1:-}" in
    smoke)
        seconds=${2:-5}
        build
        status=0
        for t in "${targets[@]}"; do
            rm -rf "$out/$t"
            if ! afl "$t" "$seconds" "$out/$t"; then
                echo "fuzz $t: afl-fuzz failed (log: $out/$t.log)" >&2; tail -20 "$out/$t.log" >&2; status=1; continue
            fi
            crashes=$(find "$out/$t/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
            execs=$(awk -F: '/^execs_done/ {gsub(/ /, "", $2); print $2}' "$out/$t/default/fuzzer_stats" 2>/dev/null || echo "?")
            echo "fuzz $t: $execs executions in ${seconds}s, $crashes crashes"
            [ "$crashes" = 0 ] || { status=1; ls "$out/$t/default/crashes" >&2; }
            dotnet "$out/plain/Butterfly.Fuzz.dll" "$t" --replay "fuzz/corpus/$t" "fuzz/regressions/$t" "$out/$t/default/crashes" || status=1
        done
        exit $status
        ;;
    campaign)
        [ $# -eq 3 ] || [ $# -eq 4 ] || { echo "usage: $0 campaign TARGET|all HOURS [EXECS]" >&2; exit 2; }
        build
        chosen=("$2"); [ "$2" = all ] && chosen=("${targets[@]}")
        for t in "${chosen[@]}"; do
            rm -rf "$out/$t"
            afl "$t" "$(awk -v h="$3" 'BEGIN { printf "%d", h * 3600 }')" "$out/$t" "${4:-}" || true
            crashes=$(find "$out/$t/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
            awk -F: -v t="$t" -v c="$crashes" '/^execs_done/ {e=$2} /^run_time/ {r=$2} /^execs_per_sec/ {s=$2} /^corpus_count/ {n=$2}
                END { gsub(/ /, "", e); gsub(/ /, "", r); gsub(/ /, "", s); gsub(/ /, "", n);
                      printf "fuzz %s: %s executions in %s s (%s/s), corpus %s, %s crashes\n", t, e, r, s, n, c }' "$out/$t/default/fuzzer_stats"
        done
        ;;
    *)
        sed -n '2,10p' "$0" >&2; exit 2
        ;;
esac
