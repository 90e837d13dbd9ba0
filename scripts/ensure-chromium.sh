#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver when either is missing (the hosted-checkout browser
# tests drive /usr/bin/chromium through /usr/bin/chromedriver). Idempotent; fails loudly.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
    echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) and chromedriver present"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $CHROMIUM or $DRIVER is missing and apt-get is not available;" \
         "install Debian's chromium and chromium-driver packages" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-chromium: need root (or sudo) to apt-get install chromium chromium-driver" >&2
        exit 1
    fi
fi

echo "ensure-chromium: installing chromium and chromium-driver"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium chromium-driver

for binary in "$CHROMIUM" "$DRIVER"; do
    if [ ! -x "$binary" ]; then
        echo "ensure-chromium: $binary still missing after apt-get install" >&2
        exit 1
    fi
done
echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null) installed"
