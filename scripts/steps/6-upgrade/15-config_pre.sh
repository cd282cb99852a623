#!/usr/bin/env bash
# Summary: upgrade the configuration before installing (format conversion)
# Summary-zh: 安装前配置升级
# Timeout: 300
# Estimate: 3
# Retry: from_unzip
# Done: the strategy's check: nothing is left to convert
# Cleanup: restart at unzip after the full environment cleanup
# Roles: any
# Barrier: node
# Kind: file
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
