#!/usr/bin/env bash
# Maintainability figures of issue #19 for the tree in $1 (default: this checkout):
# largest modules, modules over 500 lines, Any annotations, role comparisons
# outside apps/organizations/permissions.py, hand-built 403s, and duplicate
# pairs in application code (needs the `duplicates` tool of the development
# machine; without it that line is skipped). Non-test, non-migration modules
# of apps/, config/, scripts/, tenants/, bench/.
#   bash bench/maintainability.sh [tree]
cd "${1:-.}"
files=$(find apps config scripts tenants bench -name '*.py' -not -path '*/migrations/*' -not -path '*/tests/*' -not -name 'test_*' -not -name 'conftest.py')
echo "largest modules:"; wc -l $files | sort -rn | sed -n 2,6p
echo "modules over 500 lines: $(wc -l $files | sort -rn | awk '$2!="total" && $1>500' | wc -l)"
echo "Any (\\bAny\\b occurrences, non-test): $(grep -ow 'Any' $files | wc -l)"
echo "membership: Any: $(grep -o 'membership: Any' $files | wc -l)"
echo "rank comparisons outside permissions.py: $(grep -n 'ROLE_RANK\[' $files | grep -v 'apps/organizations/permissions.py' | wc -l); role == Role.X checks: $(grep -nE '\.role (==|!=) Role\.|role (==|!=) Role\.' $files | wc -l)"
echo "hand-built 403: $(grep -n 'status_code=403\|status_code=status.HTTP_403' $files | wc -l)"
nonimport=$(grep -w Any $files | grep -v 'import' | grep -ow Any | wc -l)
echo "Any outside import lines: $nonimport"
command -v duplicates >/dev/null || exit 0
echo "duplicate pairs, application code (apps/, neither side a test or migration): $(duplicates --repo apps --seconds 90 --most 200 | grep '^D' | grep -v '/tests/\|test_\|migrations' | wc -l) (of which boilerplate: $(duplicates --repo apps --seconds 90 --most 200 | grep '^D' | grep -v '/tests/\|test_\|migrations' | grep -c boilerplate))"
