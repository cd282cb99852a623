#!/usr/bin/env bash
# Summary: upgrade the drp cluster to a target version (bin/upgrade.sh --help)
exec "$(dirname "$(readlink -f "$0")")/../lib/launch.sh" upgrade "$@"
