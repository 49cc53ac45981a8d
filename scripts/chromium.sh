#!/usr/bin/env bash
# Makes Debian's Chromium available for the browser tests (/usr/bin/chromium), on a fresh machine too.
# Run as root. Playwright drives it through playwright-core: no browser is ever downloaded.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/chromium.sh: run as root (it installs Debian's chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
