#!/bin/bash
# EMR bootstrap action: Python 3.11 for txcat's packed environment, on the stock EMR 7.x image.
#
# The packed venv (txcat-env.tar.gz, `make package`) holds txcat and its pinned packages but
# not the interpreter: its bin/python links to /usr/bin/python3.11. EMR 7.x nodes run Amazon
# Linux 2023, whose default python3 is 3.9; AL2023's own repositories carry python3.11, so this
# installs it from there (no custom AMI, no download from anywhere else). It runs on every node
# before YARN starts, as the hadoop user (hence sudo), and does nothing when 3.11 is present.
#
# Wired into the transient cluster by the DAG (txcat.deploy.submit.EmrPackage.bootstrap_action);
# `make deploy` uploads it next to the package as <prefix>/<version>/bootstrap-python311.sh.
set -euo pipefail

PYTHON_BIN="${TXCAT_BOOTSTRAP_PYTHON:-/usr/bin/python3.11}"

if [ ! -x "$PYTHON_BIN" ]; then
    sudo dnf install -y python3.11
fi
"$PYTHON_BIN" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'
echo "txcat bootstrap: $("$PYTHON_BIN" --version) at $PYTHON_BIN"
