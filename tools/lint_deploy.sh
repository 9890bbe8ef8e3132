#!/usr/bin/env bash
# Checks the deployment files without a Docker engine or a cluster (CI runs
# it from tools/test.sh; a few seconds):
#   yamllint on every YAML file (.yamllint);
#   docker-compose config -q (Compose v1 validates a file offline);
#   tools/lint_deploy.py: resolves deploy/k8s's kustomizations and checks
#     ports, probes, grace period, autoscaler bounds against the stage's
#     properties and docker-compose.yml, then its self-test (each rule
#     broken once must be reported); `kubectl kustomize` too where kubectl
#     exists (it is not a Debian package);
#   the Dockerfile: its apt packages exist in Debian 12, what it COPYs is
#     in the build context .dockerignore lets through;
#   every properties file parses as the stage parses it (when the binary
#     is given as $1).
# Usage: bash tools/lint_deploy.sh [path/to/ltvstream]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3   # the one python3-yaml is for

echo "-- yamllint"
yamllint -s .

echo "-- docker-compose config"
docker-compose -f docker-compose.yml config -q

echo "-- kustomizations and docker-compose.yml against the stage's configuration"
"$py" tools/lint_deploy.py
"$py" tools/lint_deploy.py --self-test
if command -v kubectl >/dev/null 2>&1; then
  for k in deploy/k8s/base deploy/k8s/overlays/*/; do
    kubectl kustomize "$k" >/dev/null || { echo "kubectl kustomize $k failed"; exit 1; }
  done
  echo "kubectl kustomize: every kustomization renders"
fi

echo "-- Dockerfile"
# Every package an apt-get install line names has a candidate in Debian 12
# (a misspelt or renamed runtime library fails here, not in a build). Only
# when apt knows any package at all (lists present).
# (Output captured first: grep -q closing the pipe early would fail
# apt-cache with SIGPIPE under pipefail.)
has_candidate() { local out; out=$(apt-cache policy "$1" 2>/dev/null); [[ $out == *"Candidate: "[0-9]* ]]; }
if has_candidate bash; then
  pkgs=$(sed -n '/apt-get install/,/rm -rf/p' Dockerfile | tr ' \\' '\n\n' \
         | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vxE 'apt-get|install|rm|&&' | sort -u)
  for p in $pkgs; do
    has_candidate "$p" || { echo "Dockerfile: no Debian package $p"; exit 1; }
  done
  echo "apt packages found: $(echo $pkgs | wc -w)"
else
  echo "apt lists empty: package names not checked"
fi
# .dockerignore is an allowlist: each COPY source (outside --from) must be
# let through (itself or a directory above it), and exist.
for src in $(awk '$1 == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) print $i }' Dockerfile); do
  s=${src%/}
  [ -e "$s" ] || { echo "Dockerfile: COPY $src does not exist"; exit 1; }
  p=$s
  while ! grep -qxE "!$p/?" .dockerignore; do
    [[ $p == */* ]] || { echo "Dockerfile: COPY $src is excluded by .dockerignore"; exit 1; }
    p=${p%/*}
  done
done
echo "COPY sources exist and are in the build context"

if [ -n "$bin" ]; then
  echo "-- properties files, parsed by the stage"
  check() { "$bin" topics create --dry-run "$@" >/dev/null || { echo "bad configuration: $*"; exit 1; }; }
  check -c deploy/docker/ltvstream.properties
  check -c deploy/compose/ltvstream.properties
  for o in deploy/k8s/overlays/*/ deploy/k8s/base/; do
    site=deploy/k8s/base/site.properties
    [ -f "$o/site.properties" ] && site="$o/site.properties"
    check -c deploy/k8s/base/ltvstream.properties -c "$site"
  done
  echo "every properties file parses"
fi
echo "-- deployment files OK"
