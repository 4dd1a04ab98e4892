#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test, the way CI does.
# Writes build/test-results/*.xml (JUnit) and build/coverage.xml (Cobertura, merged).
# Starts PostgreSQL for the event-store tests and stops it again if it started it.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh --test || exit 1

rm -rf build && mkdir -p build/test-results build/coverage-raw
started_pg=0
cleanup() { [ "$started_pg" = 1 ] && scripts/postgres.sh stop; }
trap cleanup EXIT

scripts/postgres.sh start || exit 1
started_pg=1
export BUTTERFLY_TEST_PG="$(scripts/postgres.sh url)"

dotnet tool restore >/dev/null || exit 1
echo "== build"
dotnet build Butterfly.sln -c Release -nologo -v quiet -warnaserror || exit 1
echo "== format"
dotnet format Butterfly.sln --verify-no-changes --no-restore -v quiet || { echo "dotnet format found changes" >&2; exit 1; }

echo "== test"
dotnet test Butterfly.sln -c Release --no-build -nologo \
    --settings tests/coverage.runsettings \
    --logger "console;verbosity=minimal" \
    --logger "junit;LogFilePath=$root/build/test-results/{assembly}.xml;MethodFormat=Class;FailureBodyFormat=Verbose" \
    --collect "XPlat Code Coverage" --results-directory build/coverage-raw
status=$?

echo "== native shim under ASan + UBSan"
scripts/sanitize-shim.sh > build/sanitize.log 2>&1 && tail -1 build/sanitize.log || { tail -40 build/sanitize.log; status=1; }

echo "== fuzz smoke (5 s per target)"
scripts/fuzz.sh smoke 5 || status=1

dotnet tool run reportgenerator -reports:"build/coverage-raw/**/coverage.cobertura.xml" \
    -targetdir:build/coverage -reporttypes:"Cobertura;TextSummary" -verbosity:Warning >/dev/null \
    && cp build/coverage/Cobertura.xml build/coverage.xml \
    && sed -n '1,20p' build/coverage/Summary.txt

# One closing line over every runner's JUnit report.
/usr/bin/python3 - "$root/build/test-results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/*.xml"):
    for suite in ET.parse(path).getroot().iter("testsuite"):
        t = int(suite.get("tests", 0)); fl = int(suite.get("failures", 0)) + int(suite.get("errors", 0)); sk = int(suite.get("skipped", 0))
        p += t - fl - sk; f += fl; s += sk
print(f"tests: {p} passed, {f} failed, {s} skipped")
PY
exit $status
