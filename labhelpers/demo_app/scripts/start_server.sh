#!/bin/bash
# ApplicationStart: start Apache now, and on every boot from here on.
set -euo pipefail
systemctl enable httpd
systemctl start httpd
