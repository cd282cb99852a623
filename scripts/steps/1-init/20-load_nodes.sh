# shellcheck shell=bash
# Runs on the controller: declared here, beside the node steps; its work is NodeOps.step_load_nodes (lib/python/drupgrade/nodeops.py).
# Summary: load node SSH information: connect, check the version
# Summary-zh: 加载节点SSH信息（连接节点，确认版本）
# Runs: controller
# Timeout: 120
# Estimate: 1
# Retry: restart
# Roles: any
# Kind: network
