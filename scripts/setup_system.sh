#!/usr/bin/env bash
# System packages the tests use: Debian's chromium (headless report rendering test).
# Best effort: installs with apt-get when running as root; otherwise says what is missing.
set -u
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian chromium (report rendering test)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/tmp/dpt-apt.log 2>&1 || {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/tmp/dpt-apt.log 2>&1
    } || echo "[setup] could not install chromium (see /tmp/dpt-apt.log); the report test will skip" >&2
else
    echo "[setup] chromium not found: install Debian's 'chromium' package for the report test" >&2
fi
exit 0
