#!/usr/bin/env bash
# Make sure the Debian packages some tests drive are installed:
#   chromium   - the admin console's browser tests (tests/test_admin_browser.py
#                drives /usr/bin/chromium through Playwright; `playwright
#                install` is never used: it downloads its own browser builds);
#   pgbouncer  - the pooling probe against a real PgBouncer in session and
#                transaction mode (tests/test_production_settings.py);
#   gettext    - makemessages over the code, to check that the committed
#                catalogs hold every marked string (apps/iam/tests/test_locale.py).
#
# Idempotent and never fatal: what is already there is left alone; what
# cannot be installed here (not root, no apt-get, no network) is reported,
# exit status 0, and the tests that need it skip themselves with the reason.
set -u

# binary  package
PACKAGES=(
    "/usr/bin/chromium chromium"
    "/usr/sbin/pgbouncer pgbouncer"
    "/usr/bin/xgettext gettext"
)

missing=()
for entry in "${PACKAGES[@]}"; do
    read -r binary package <<<"$entry"
    if [ -x "$binary" ]; then
        echo "ensure_test_packages: $package is installed ($binary)"
    else
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_test_packages: missing ${missing[*]} and cannot install here (needs root and" \
        "apt-get): the tests that use them will be skipped (sudo apt-get install ${missing[*]})"
    exit 0
fi

echo "ensure_test_packages: installing ${missing[*]} with apt-get ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
for package in "${missing[@]}"; do
    # One at a time: a package that cannot be installed must not keep the other out.
    # policy-rc.d-free images may try to start pgbouncer's service: harmless
    # (the tests start their own on a free port), so its exit status is ignored too.
    if apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
        || dpkg -s "$package" >/dev/null 2>&1; then
        echo "ensure_test_packages: installed $package"
    else
        echo "ensure_test_packages: apt-get could not install $package: its tests will be skipped"
    fi
done
exit 0
