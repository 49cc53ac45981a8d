#!/usr/bin/env bash
# Makes a Docker daemon answer on /var/run/docker.sock, on a fresh Debian machine too. Run as root.
# Installs Debian's docker.io (and busybox-static, which the test image is built from) when missing,
# then starts dockerd without iptables or a default bridge (these machines allow neither) on the vfs
# storage driver, and waits until it answers. Safe to run twice: each step is skipped when done.
set -euo pipefail

socket=/var/run/docker.sock
log=/tmp/gyre-dockerd.log
deadline_seconds=${GYRE_DOCKERD_DEADLINE:-60}

answers() {
  # the Engine API's own health check, over the socket: no docker CLI needed
  [ -S "$socket" ] && curl --silent --fail --max-time 2 --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1
}

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/docker.sh: run as root (it installs packages and starts dockerd)" >&2
  exit 1
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if answers; then
  echo "dockerd already answers on $socket"
  exit 0
fi

# a socket left by a daemon that died would make the new one refuse to start
if [ -e "$socket" ] && ! pgrep -x dockerd >/dev/null 2>&1; then rm -f "$socket"; fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "starting dockerd (log: $log)"
  nohup dockerd --iptables=false --bridge=none --storage-driver=vfs >>"$log" 2>&1 </dev/null &
fi

for _ in $(seq 1 $((deadline_seconds * 4))); do
  if answers; then
    echo "dockerd answers on $socket"
    exit 0
  fi
  sleep 0.25
done
echo "dockerd did not answer on $socket within ${deadline_seconds}s; the end of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
