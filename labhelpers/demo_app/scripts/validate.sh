#!/bin/bash
# ValidateService: the page is in place and Apache is running.
set -euo pipefail
page=/var/www/html/index.html
if ! grep -q "awscicd demo app" "$page"; then
  echo "$page is missing or is not the demo app" >&2
  exit 1
fi
if ! systemctl is-active --quiet httpd; then
  echo "httpd is not running" >&2
  exit 1
fi
echo "httpd is active and serves $page"
