#!/usr/bin/env bash
# Make docs/img/run-in-progress.png: a real screen of `bin/upgrade.sh run` in progress on the lab.
#
# Usage: tests/lab/screenshot_run.sh [OUT.png]     (LAB_NAME/LAB_SUBNET/LAB_DIR: the lab, as lab.sh)
#
# Installs drp 2.0.0 on the lab, runs the upgrade to 2.2.0 in tmux (120x36, English), captures the
# pane with its colours (tmux capture-pane -e) once the upgrade phase shows, lets the run end,
# renders the capture to SVG with rich (Text.from_ansi, Console.export_svg) and the SVG to PNG with
# headless Chromium.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/docs/img/run-in-progress.png}")
COLS=120
ROWS=36

err() { printf '[screenshot] %s\n' "$*" >&2; }

WORK=$(mktemp -d)
trap 'tmux -L "shot$$" kill-server 2>/dev/null || true; rm -rf "$WORK"' EXIT

main() {
  local work=$WORK lab_dir tmux i
  lab_dir=${LAB_DIR:-$ROOT/build/lab}
  "$ROOT/tests/lab/install.sh" 2.0.0 >"$work/install.log" 2>&1 || { err "install failed: $work/install.log"; cat "$work/install.log" >&2; return 1; }
  sed "s#^state_dir = .*#state_dir = $work/state#" "$lab_dir/upgrade.ini" >"$work/upgrade.ini"
  chmod 600 "$work/upgrade.ini"
  printf 'set -g history-limit 10000\nset -g remain-on-exit on\nset -g status off\n' >"$work/tmux.conf"
  tmux=(tmux -u -L "shot$$" -f "$work/tmux.conf")
  LANG=C.UTF-8 "${tmux[@]}" new-session -d -s run -x "$COLS" -y "$ROWS" \
    "$ROOT/bin/upgrade.sh --config $work/upgrade.ini --lang en run --to 2.2.0; echo \$? > $work/rc"
  for ((i = 0; i < 1200; i++)); do  # the screen once the upgrade phase runs (at most 10 min)
    "${tmux[@]}" capture-pane -p -e -t run >"$work/screen.ansi"
    if grep -q 'phase 6/7' "$work/screen.ansi"; then break; fi
    [[ -e $work/rc ]] && { err "the run ended before its upgrade phase showed"; return 1; }
    sleep 0.5
  done
  while [[ ! -e $work/rc ]]; do sleep 1; done
  [[ $(cat "$work/rc") == 0 ]] || { err "the run failed (rc $(cat "$work/rc"))"; return 1; }
  python3 - "$work/screen.ansi" "$work/screen.svg" "$COLS" <<'EOF'
import sys
from rich.console import Console
from rich.text import Text
src, dst, cols = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, encoding="utf-8") as f:
    lines = f.read().rstrip("\n").split("\n")
console = Console(record=True, width=cols, force_terminal=True, color_system="truecolor", file=open("/dev/null", "w"))
for line in lines:
    console.print(Text.from_ansi(line), no_wrap=True, crop=True)
console.save_svg(dst, title="bin/upgrade.sh run --to 2.2.0")
EOF
  local size
  size=$(grep -o 'viewBox="0 0 [0-9.]* [0-9.]*"' "$work/screen.svg" | head -n 1 | awk '{printf "%d,%d", $3 + 0.5, $4 + 0.5}')
  mkdir -p "$(dirname "$OUT")"
  (cd "$work" && chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$work/chromium" \
    --hide-scrollbars --screenshot="$OUT" --window-size="$size" "file://$work/screen.svg") >"$work/chromium.log" 2>&1 \
    || { err "chromium failed"; cat "$work/chromium.log" >&2; return 1; }
  err "wrote $OUT ($size)"
}

main "$@"
