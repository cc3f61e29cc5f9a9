#!/usr/bin/env bash
# Runs the shop pipeline's four pushes on this machine, every piece on 127.0.0.1 (see README.md):
# it starts git http-backend with the service's repository, `sluice server` with pipeline.yaml
# deployed, docker-registry, a Kubernetes API double whose pods are containers on your dockerd,
# Prometheus scraping them, and stand-ins for Slack, Jira and PagerDuty; then pushes four
# commits, each announced by a signed GitHub webhook, and checks what each did.
#
#   examples/cicd/run.sh           the four pushes, then everything stops
#   examples/cicd/run.sh --keep    ... then everything stays up until Ctrl-C
#
# It is the end-to-end test `runtime/cli/tests/cicd_pipeline.rs`, run with its output shown.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
for tool in git docker dockerd docker-registry prometheus debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "missing: ${missing[*]}; on Debian or Ubuntu:" >&2
    echo "  sudo apt-get install -y git docker.io docker-registry prometheus debootstrap" >&2
    exit 1
fi
if ! docker version >/dev/null 2>&1; then
    echo "dockerd does not answer on its socket: start it (sudo systemctl start docker, or sudo dockerd &)" >&2
    exit 1
fi
# Ports the laptop setup takes (pipeline.yaml's input defaults).
for port in 15000 18080 18082 19090 30080; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "127.0.0.1:$port is taken; the example needs it (see README.md)" >&2
        exit 1
    fi
done

# The base image first, so its one-time build (about a minute) shows its progress.
bash examples/cicd/base-image.sh

if [[ ${1:-} == --keep ]]; then
    export SLUICE_CICD_KEEP=1
fi
exec cargo test -p sluice-cli --test cicd_pipeline -- --nocapture
