#!/usr/bin/env bash
# Install what building and testing need, when missing: Debian packages (build, lint, the lab
# and the product) and the Python packages the tests import. Quiet when all is present.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

APT_TOOLS=(cmake:cmake msgfmt:gettext shellcheck:shellcheck bats:bats git:git sqlite3:sqlite3 tmux:tmux chromium:chromium)
PIP_MODULES=(pytest:pytest xdist:pytest-xdist testinfra:pytest-testinfra paramiko:paramiko pexpect:pexpect
  psutil:psutil rich:rich jsonschema:jsonschema ruff:ruff)

prereqs::apt() {
  local want=() pair
  for pair in "${APT_TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || want+=("${pair#*:}")
  done
  ((${#want[@]})) || return 0
  echo "installing: ${want[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null
}

prereqs::pip() {
  local want=() pair
  for pair in "${PIP_MODULES[@]}"; do
    if [[ ${pair%%:*} == ruff ]]; then
      command -v ruff >/dev/null 2>&1 || want+=(ruff)
    else
      python3 -c "import ${pair%%:*}" 2>/dev/null || want+=("${pair#*:}")
    fi
  done
  ((${#want[@]})) || return 0
  echo "pip installing: ${want[*]}" >&2
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q "${want[@]}"
}

main() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "tests/prereqs.sh: run as root (installs packages, builds network namespaces)" >&2
    return 2
  fi
  prereqs::apt
  if [[ -x tests/lab/prereqs.sh ]]; then tests/lab/prereqs.sh; fi
  prereqs::pip
}

main "$@"
