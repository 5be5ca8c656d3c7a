#!/usr/bin/env bash
# Install what the test suite needs outside Python, only when it is missing.
# Debian packages: postgresql and redis-server (throwaway servers the tests start themselves),
# nodejs, npm,
# chromium (the dashboard's browser tests; Playwright is given its path, it downloads nothing).
set -euo pipefail

missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
  missing+=(postgresql)
fi

# node + npm: the token tests run the independent clients openid-client and jose (tests/node).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

# redis-server: the rate-limit tests share their counters through a throwaway Redis they start.
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || missing+=(redis-server)

# chromium: tests/browser drive Debian's build at this path with Playwright (no browser download).
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "Installing Debian packages the tests need: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null; then
  SUDO=(sudo)
else
  echo "error: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
