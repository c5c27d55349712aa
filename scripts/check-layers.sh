#!/usr/bin/env bash
# Fails when a module of src/ imports a layer above its own (see docs/architecture.md, "Layers").
# Each line below names a layer and every top-level module it may use; anything else named as
# `crate::<module>` (in code, not in comments) is a violation.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A ALLOWED=(
  [model]=""
  [clock]=""
  [metrics]=""
  [tokens]="model"
  [config]="model tokens"
  [telemetry]="model tokens config"
  [store]="model"
  [domain]="model clock config metrics tokens store"
  [oauth]="model clock config metrics tokens store domain"
  [http]="model clock config metrics tokens store domain oauth"
  [app]="model clock config metrics tokens store domain oauth http telemetry"
  [cli]="model clock config metrics tokens store domain oauth http telemetry app"
)

status=0
for layer in "${!ALLOWED[@]}"; do
  files=$(ls "src/$layer.rs" 2>/dev/null; find "src/$layer" -name '*.rs' 2>/dev/null || true)
  [ -n "$files" ] || { echo "check-layers: no source for layer $layer" >&2; status=1; continue; }
  for f in $files; do
    # Strip comments (// to end of line) before looking for paths.
    code=$(sed -e 's://.*$::' "$f")
    if grep -q 'crate::{' <<<"$code"; then
      echo "$f: write one \`use crate::<module>::...\` per module (this check reads paths, not groups)" >&2
      status=1
    fi
    used=$(grep -oE '\bcrate::[a-z_]+' <<<"$code" | sed 's/crate:://' | sort -u || true)
    for m in $used; do
      [ "$m" = "$layer" ] && continue
      case " ${ALLOWED[$layer]} " in
        *" $m "*) ;;
        *) echo "$f: layer '$layer' uses crate::$m, which is not below it" >&2; status=1 ;;
      esac
    done
  done
done

# Every top-level module must be placed in a layer above.
for f in src/*.rs src/*/; do
  m=$(basename "$f" .rs)
  case "$m" in lib|main) continue ;; esac
  [ -n "${ALLOWED[$m]+set}" ] || { echo "check-layers: src/$m is in no layer; add it to $0" >&2; status=1; }
done
[ "$status" = 0 ] && echo "check-layers: every module uses only layers below its own"
exit "$status"
