#!/usr/bin/env bash
# Install from Debian's registry the real tools the deployment tests check the shipped files with:
# promtool (deploy/prometheus/, tests/deploy/test_prometheus_rules.py), nginx and caddy
# (examples/deploy/, tests/deploy/test_proxy_examples.py). Only what is missing; no service is started
# by the install. Idempotent; fails loudly.
set -euo pipefail

declare -A PACKAGE_OF=([/usr/bin/promtool]=prometheus [/usr/sbin/nginx]=nginx [/usr/bin/caddy]=caddy)

missing=()
for tool in "${!PACKAGE_OF[@]}"; do
    [ -x "$tool" ] || missing+=("${PACKAGE_OF[$tool]}")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "ensure-deploy-tools: promtool, nginx and caddy present"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-deploy-tools: missing ${missing[*]} and apt-get is not available; install them" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-deploy-tools: need root (or sudo) to apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

echo "ensure-deploy-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The packages' servers are not wanted here: a policy-rc.d that refuses every start while installing.
POLICY=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
    made_policy=1
fi
cleanup() { if [ "$made_policy" -eq 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

for tool in "${!PACKAGE_OF[@]}"; do
    if [ ! -x "$tool" ]; then
        echo "ensure-deploy-tools: $tool still missing after apt-get install" >&2
        exit 1
    fi
done
echo "ensure-deploy-tools: ${missing[*]} installed"
