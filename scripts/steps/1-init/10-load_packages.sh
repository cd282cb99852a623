# shellcheck shell=bash
# Runs on the controller: declared here, beside the node steps; its work is NodeOps.step_load_packages (lib/python/drupgrade/nodeops.py).
# Summary: load and verify the product packages of every hop
# Summary-zh: 加载并校验每一跳的软件包
# Runs: controller
# Timeout: 600
# Estimate: 1
# Retry: restart
# Roles: controller
# Kind: file
