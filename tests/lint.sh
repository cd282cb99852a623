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

#######################################
# Python files ruff does not find by itself: extension-less programs with a python shebang
# (the products' tools under packaging/).
#######################################
lint::python_scripts() {
  local f
  while IFS= read -r f; do
    [[ -f $f && $f != *.* ]] || continue
    head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*\bpython3?\b' && printf '%s\n' "$f"
  done < <(git ls-files --cached --others --exclude-standard)
  return 0
}

main() {
  local files scripts
  mapfile -t files < <(lint::bash_files)
  echo "shellcheck: ${#files[@]} files"
  shellcheck -x "${files[@]}"
  mapfile -t scripts < <(lint::python_scripts)
  echo "ruff (+ ${#scripts[@]} python programs without an extension)"
  ruff check lib/python tests po bench packaging "${scripts[@]}"
  echo "catalogs"
  python3 po/msgids.py
}

main "$@"
