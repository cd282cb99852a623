#!/usr/bin/env bash
# Summary: upgrade-mode install: new program beside the old, switch to it, new units, fresh DB directory
# Summary-zh: 升级模式安装（新程序目录与旧目录并存并切换，安装新服务，初始化新数据库目录）
# Timeout: 600
# Estimate: 6
# Retry: from_unzip
# Done: the product points at the new release, which verifies, and its units are installed
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
