#!/usr/bin/env bash
# Sets up the machine and runs the scenario of DESIGN.md live: three compute nodes
# (ISP-A, ISP-B, ISP-C) as namespaces, one esfc agent each, client -> SF1 -> SF2 -> SF3 -> server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/agent/cli.js demo "$@"
