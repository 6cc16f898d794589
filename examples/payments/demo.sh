#!/usr/bin/env bash
# The payments demo on a fresh machine: installs the database packages if missing, then runs
# the service against its own lagging replicas and prints stale reads with and without ryw.
# Extra arguments go to the service, e.g. `--backend mariadb`, `--backend mysql` (Oracle MySQL,
# from a Debian sid root folder; needs root) or `--users 400 --lag-ms 500`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash .ci/install-deps
case " $* " in
  *" --backend mysql "* | *" --backend=mysql "*) bash .ci/install-mysql ;;
esac
cargo run -q --release -p payments -- --demo "$@"
