#!/usr/bin/env bash
# Every notebook with every seed: `make test-seeds` (SEEDS="1 2 3", PROFILE=quick by default).
# Executed copies go to build/seeds/NAME_seedN.ipynb; a table of pass/fail and minutes is printed at
# the end, and the exit status is 1 when any run failed. Notebook 04 reuses notebook 02's networks of
# the same seed (camlib.lab.mnist_recipe names checkpoints per seed), so 02 runs before 04.
set -uo pipefail
cd "$(dirname "$0")/.."
papermill=${PAPERMILL:-.venv/bin/papermill}
seeds=${SEEDS:-1 2 3}
profile=${PROFILE:-quick}
out=build/seeds
mkdir -p "$out"
failed=0
summary=()
for seed in $seeds; do
  for notebook in notebooks/[0-9]*.ipynb; do
    name=$(basename "$notebook" .ipynb)
    start=$(date +%s)
    if env -u MPLBACKEND "$papermill" --no-progress-bar "$notebook" "$out/${name}_seed$seed.ipynb" \
         -p SEED "$seed" -p PROFILE "$profile" >"$out/${name}_seed$seed.log" 2>&1; then
      result=pass
    else
      result="FAIL (see $out/${name}_seed$seed.log)"
      failed=1
    fi
    summary+=("$(printf '%-28s seed %s  %4d s  %s' "$name" "$seed" "$(( $(date +%s) - start ))" "$result")")
    echo "${summary[-1]}"
  done
done
echo
echo "profile $profile, seeds $seeds:"
printf '%s\n' "${summary[@]}"
exit $failed
