#!/usr/bin/env bash
# Lint every bash file (by extension or shebang, extension-less too) with ShellCheck, and the
# Python with ruff; also checks that every msgid has its zh translation.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

#######################################
# Every file of the tree (tracked or new, not ignored) that is bash.
#######################################
lint::bash_files() {
  local f
  while IFS= read -r f; do
    [[ -f $f ]] || continue
    case $f in
      *.sh | *.bats) ;;
      *) head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*\b(ba)?sh\b' || continue ;;
    esac
    [[ $f == *.bats ]] && continue # bats syntax is not plain bash
    printf '%s\n' "$f"
  done < <(git ls-files --cached --others --exclude-standard)
}

main() {
  local files
  mapfile -t files < <(lint::bash_files)
  echo "shellcheck: ${#files[@]} files"
  shellcheck -x "${files[@]}"
  echo "ruff"
  ruff check lib/python tests po bench
  echo "catalogs"
  python3 po/msgids.py
}

main "$@"
