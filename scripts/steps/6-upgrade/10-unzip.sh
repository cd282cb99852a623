#!/usr/bin/env bash
# Summary: unpack the new package (the bytes the controller verified, plain files only)
# Summary-zh: 解压
# Timeout: 600
# Estimate: 1
# Retry: direct
# Done: the unpacked package is complete (its MANIFEST.sha256 verifies)
# Cleanup: full environment cleanup (§4.2.5): new services, program, config, database, temp files
# Roles: any
# Rolling: first
# Kind: file
# Subject: /var/lib/drupgrade/work
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
