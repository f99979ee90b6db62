#!/bin/bash
# ApplicationStop: stop Apache if it runs. CodeDeploy runs this script from the revision deployed
# before, so it must cope with a host where Apache was never started.
set -euo pipefail
if systemctl is-active --quiet httpd; then
  systemctl stop httpd
fi
