#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. every test, against the JIT build (dotnet test on the solution);
#   2. the Native AOT build — what the default image ships — published, and the tests that start the
#      real binary (category Binary: process, OTLP export, config file, TLS policy, ShippedBinaryTests)
#      run again against that executable.
# TRX results for both go to TestResults/ (or $RESULTS). Exits non-zero if anything failed.
# Without clang (needed to link the AOT build) step 2 is skipped with a reason, except under CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."
results="${RESULTS:-TestResults}"
aot="${AOT_OUT:-out/test-aot}"
status=0

dotnet test ProxySidecar.sln -c Release --logger trx --results-directory "$results" || status=1

if ! command -v clang > /dev/null 2>&1 && [ "${CI:-}" != true ]; then
  echo "tests/run.sh: clang is not installed, so the Native AOT build cannot be linked; its tests are skipped (apt-get install clang)" >&2
  exit "$status"
fi

echo "tests/run.sh: publishing the Native AOT build to $aot (a few minutes)" >&2
if dotnet publish src/ProxySidecar/ProxySidecar.csproj -c Release -r linux-x64 -p:PublishAot=true -o "$aot" -nologo -v quiet; then
  PROXYSIDECAR_TEST_EXECUTABLE="$PWD/$aot/ProxySidecar" dotnet test tests/ProxySidecar.IntegrationTests -c Release --no-build \
    --filter "Category=Binary" \
    --logger "trx;LogFileName=native-aot.trx" --results-directory "$results" || status=1
else
  echo "tests/run.sh: the Native AOT publish failed" >&2
  status=1
fi
exit "$status"
