#!/usr/bin/env bash
# Mutation testing of the modules that carry the project's promises (mutmut 3), one module at a
# time, each against only the tests that exercise it. Too slow for CI: run it by hand after
# changing one of these modules, and kill each surviving mutant with a test or list it as
# equivalent in docs/testing.md.
#
#   pip install 'mutmut>=3.8,<4'
#   tools/mutation.sh                 # every target below
#   tools/mutation.sh redact splice   # some of them
#   JOBS=4 tools/mutation.sh sse      # parallel test processes (default 2)
#
# Each target runs in a scratch copy of the working tree (tracked files, as they are now), so
# the checkout is never touched; the scratch directory is kept and printed for `mutmut show`.
set -euo pipefail

declare -A SOURCE TESTS ONLY
# ONLY: the functions mutated (mutmut name globs), when the module does more than the promise
SOURCE[retry_after]=deepseek_resilient/_providers/http/errors.py
ONLY[retry_after]="*.x_parse_retry_after__* *.x__number__* *.x__is_float__*"
TESTS[retry_after]="tests/test_hostile_server.py tests/test_retry.py"
SOURCE[redact]=deepseek_resilient/_core/redact.py
TESTS[redact]="tests/test_redaction.py tests/test_keys.py"
SOURCE[splice]=deepseek_resilient/_streaming/splice.py
TESTS[splice]="tests/test_splice.py"
SOURCE[sse]=deepseek_resilient/_streaming/sse_decoder.py
TESTS[sse]="tests/test_sse.py tests/test_chunk_reader.py"
SOURCE[budget]=deepseek_resilient/_policies/budget.py
TESTS[budget]="tests/test_budget.py"
SOURCE[retry]=deepseek_resilient/_policies/retry.py
TESTS[retry]="tests/test_retry.py tests/test_budget.py tests/test_events.py tests/test_client_resilience.py"
SOURCE[breaker]=deepseek_resilient/_policies/breaker.py
TESTS[breaker]="tests/test_breaker.py tests/test_breaker_layer.py tests/test_layers.py tests/test_router.py tests/redis/test_redis_round_trips.py tests/redis/test_redis_fleet_breaker.py"
SOURCE[plain]=deepseek_resilient/_streaming/plain.py
TESTS[plain]="tests/test_plain_chunks.py tests/test_chunk_reader.py"
ORDER=(retry_after redact splice sse budget retry breaker plain)

root=$(git rev-parse --show-toplevel)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${ORDER[@]}")
unset PYTHONPATH  # the mutated copy must be the one imported

for target in "${targets[@]}"; do
    source_file=${SOURCE[$target]:?unknown target $target (known: ${ORDER[*]})}
    work=$(mktemp -d "${TMPDIR:-/tmp}/mutation-$target.XXXX")
    (cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work")
    {
        echo "[mutmut]"
        echo "source_paths = deepseek_resilient"
        echo "only_mutate = $source_file"
        echo "pytest_add_cli_args = -p no:cacheprovider -q -x"
        echo "pytest_add_cli_args_test_selection ="
        for t in ${TESTS[$target]}; do echo "    $t"; done
    } > "$work/setup.cfg"
    echo "== $target: $source_file against ${TESTS[$target]} (in $work)"
    # shellcheck disable=SC2086  # the globs are mutmut's, not the shell's
    (cd "$work" && set -f && mutmut run --max-children "${JOBS:-2}" ${ONLY[$target]:-} \
        > run.log 2>&1 || true
     mutmut results --all true > results.txt 2>&1 || mutmut results > results.txt 2>&1 || true
     python3 - "$target" "${ONLY[$target]:-*}" <<'PY'
import fnmatch, pathlib, re, sys
target, globs = sys.argv[1], sys.argv[2].split()
counts: dict[str, int] = {}
for name, status in re.findall(r"^\s*(\S+): (\w[\w ]*)$", pathlib.Path("results.txt").read_text(), re.M):
    if any(fnmatch.fnmatch(name, g) for g in globs):
        counts[status] = counts.get(status, 0) + 1
killed = counts.get("killed", 0) + counts.get("timeout", 0)
scored = killed + counts.get("survived", 0) + counts.get("no tests", 0)
score = f"{100.0 * killed / scored:.1f} % killed" if scored else "nothing scored"
print(f"{target}: {sum(counts.values())} mutants {dict(sorted(counts.items()))}: {score}")
PY
     grep -E ": (survived|no tests|timeout|suspicious)$" results.txt | sed 's/^/    /' || true)
done
