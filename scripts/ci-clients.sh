#!/usr/bin/env bash
# CI entry point of the interoperability suite (issue 9, items 2-6): installs the real clients (cached by version, see
# scripts/clients/install.sh), then runs every client scenario (scripts/clients/run.sh) once per configured
# combination of store and auth mode, and prints the time of each part and one closing line
# `N passed, N failed, N skipped` over all of them (a failed install counts as one failure). The output of each
# part is indented, so the closing line is the only unindented line of that form. Exits non-zero on any failure
# or skip.
#
# Settings:
#   BERTH_CLIENTS_MATRIX  space-separated store:auth pairs, default "fs:none fs:basic fs:token mongo:none
#                         mongo:basic mongo:token". Stores: fs, memory, mongo (on MONGODB_URI if set, in a fresh
#                         database; else on a SecantusDB started for the run). Auth: none (BERTH_AUTH=open), basic,
#                         token (the example app's BERTH_AUTH; every client logs in first).
#   BERTH_CLIENTS_CACHE   where the clients are cached (default .cache/clients/; CI clones afresh, so a directory
#                         outside the clone makes later runs warm)
#   BERTH_CLIENTS_APP_DIR the berth checkout to serve (default this one), and the other BERTH_CLIENTS_* settings of
#                         scripts/clients/run.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
MATRIX=${BERTH_CLIENTS_MATRIX:-fs:none fs:basic fs:token mongo:none mongo:basic mongo:token}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
indent() { sed -u 's/^/  /'; }

started_all=$(now)
timings=()
passed=0 failed=0 skipped=0

echo "== clients: install (scripts/clients/install.sh)"
started=$(now)
if bash scripts/clients/install.sh 2>&1 | indent; then
  timings+=("install: $(since "$started") s")
else
  timings+=("install: FAILED after $(since "$started") s")
  failed=1
  echo "!! installing the clients failed (above); no scenario runs"
fi

if [ "$failed" -eq 0 ]; then
  for combo in $MATRIX; do
    store=${combo%%:*} auth=${combo#*:}
    echo "== clients: scenarios on the $store store, auth $auth (scripts/clients/run.sh)"
    started=$(now)
    log=$(mktemp)
    BERTH_CLIENTS_STORE=$store BERTH_CLIENTS_AUTH=$auth bash scripts/clients/run.sh 2>&1 | indent | tee "$log"
    line=$(grep -E '^  [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
    rm -f "$log"
    if [ -n "$line" ]; then
      read -r p _ f _ s _ <<< "$line"
      passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
      timings+=("$store store, auth $auth: ${line#  } in $(since "$started") s")
    else
      # the run died before its summary (the server did not start, a setting was refused…): one failure
      failed=$((failed + 1))
      timings+=("$store/$auth: no summary (run failed, see above) after $(since "$started") s")
    fi
  done
fi

echo "== clients: timings"
printf '  %s\n' "${timings[@]}" "total: $(since "$started_all") s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ]
