# shellcheck shell=bash
# Runs on the controller: declared here, beside the node steps; its work is NodeOps.step_collect_manifest (lib/python/drupgrade/nodeops.py).
# Summary: collect and check the backup manifest
# Summary-zh: 收集并校验备份清单
# Runs: controller
# Timeout: 120
# Estimate: 1
# Retry: direct
# Roles: any
# Rolling: first
# Kind: network
