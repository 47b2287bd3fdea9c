#!/usr/bin/env sh
# Make the PostgreSQL server binaries available for the gradebook tests, and say whether they are expected.
# Installs Debian's `postgresql` package when the binaries are missing and this user can (root with apt-get).
# Prints 1 when the tests must find PostgreSQL (present or installable here: its absence is then a failure),
# 0 when this machine cannot have it (the tests then skip and say why).
have() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if have; then echo 1; exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries are missing and cannot be installed here (needs root and apt-get)" >&2
  echo 0; exit 0
fi
echo "installing PostgreSQL server binaries for the gradebook tests ..." >&2
log=/tmp/autograder-apt-postgresql.log
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
  tail -n 5 "$log" >&2
  echo "could not install postgresql (log: $log); the PostgreSQL tests will fail" >&2
fi
echo 1
