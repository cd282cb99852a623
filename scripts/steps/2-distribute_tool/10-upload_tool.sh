# shellcheck shell=bash
# Runs on the controller: declared here, beside the node steps; its work is NodeOps.step_upload_tool (lib/python/drupgrade/nodeops.py).
# Summary: upload the upgrade tool package
# Summary-zh: 上传升级工具包
# Runs: controller
# Timeout: 600
# Estimate: 2
# Retry: direct
# Roles: any
# Kind: network
