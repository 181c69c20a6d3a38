#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests
# (tests/test_admin_browser.py drives /usr/bin/chromium through Playwright;
# `playwright install` is never used: it downloads its own browser builds).
#
# Idempotent and never fatal: when Chromium is already there, or cannot be
# installed here (not root, no apt-get, no network), it says so and exits 0,
# and the browser tests skip themselves with a clear reason.
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "ensure_chromium: $CHROMIUM is installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: $CHROMIUM is missing and this is not root: browser tests will be skipped" \
        "(install it with: sudo apt-get install chromium)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: $CHROMIUM is missing and apt-get is not available: browser tests will be skipped"
    exit 0
fi

echo "ensure_chromium: installing chromium with apt-get ..."
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq chromium >/dev/null; then
    echo "ensure_chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
else
    echo "ensure_chromium: apt-get could not install chromium: browser tests will be skipped"
fi
exit 0
