# shellcheck shell=bash
# Runs on the controller: declared here, beside the node steps; its work is NodeOps.step_precheck (lib/python/drupgrade/nodeops.py).
# Summary: every precheck on every node, one report for the cluster
# Summary-zh: 升级前检查：所有节点的全部检查项，统一报告
# Runs: controller
# Timeout: 1800
# Estimate: 3
# Retry: phase
# Roles: controller
# Kind: network
