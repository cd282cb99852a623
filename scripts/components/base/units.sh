# shellcheck shell=bash
# Library of the base layer (system commands): a product's systemd units found by their names'
# globs, whatever version installed them. No component interface of its own.

# Not at rest: active, activating, deactivating, reloading (a restart loop included).
units::running() {
  local state
  state=$(systemctl show -p ActiveState --value "$1" 2> /dev/null || true)
  [[ -n $state && $state != inactive && $state != failed ]]
}

#######################################
# The units whose names match the globs: those systemd has loaded (running or not, with or without
# a unit file: one deleted while it ran is still there) and the unit files in the unit dir. Sorted,
# one per line. Arguments: unit dir, globs...
#######################################
units::matching() {
  local dir=$1 g u
  shift
  (($#)) || return 0
  {
    systemctl list-units --all --plain --no-legend --full -- "$@" 2> /dev/null |
      sed 's/^[^[:alnum:]]*//' | awk '{print $1}'
    for g in "$@"; do
      for u in "$dir"/$g; do [[ ! -e $u ]] || printf '%s\n' "${u##*/}"; done
    done
  } | LC_ALL=C sort -u | grep . || true
}
