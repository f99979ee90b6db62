#!/bin/bash
# BeforeInstall: make sure the Apache web server is installed.
set -euo pipefail
yum install -y httpd
