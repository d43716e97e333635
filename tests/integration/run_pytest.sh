#!/bin/bash
# Run the pytest files matching a glob (meson does not expand globs itself).
# Uses Debian's python3 (python3-pytest), not whatever python3 is first on PATH.
cd "$(dirname "$0")" || exit 1
shopt -s nullglob
files=($1)
if [ ${#files[@]} -eq 0 ]; then echo "no test files match $1"; exit 1; fi
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "${files[@]}"
