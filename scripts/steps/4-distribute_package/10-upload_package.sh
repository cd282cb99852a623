# shellcheck shell=bash
# Runs on the controller: declared here, beside the node steps; its work is NodeOps.step_upload_package (lib/python/drupgrade/nodeops.py).
# Summary: upload the product package
# Summary-zh: 上传软件包
# Runs: controller
# Timeout: 3600
# Estimate: 1
# Retry: direct
# Roles: any
# Rolling: first
# Kind: network
