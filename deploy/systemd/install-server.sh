#!/usr/bin/env bash
# Installs the Session Tunnels server units (see --help). Safe to run again: it updates the
# program and the units, and never touches settings or secrets that are already there.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: install-server.sh [--from DIR] [--enable UNITS] [--now] [--help]

Installs the server roles as systemd services:
  /opt/session-tunnels/server/             the built repository: apps/*/{bin,dist}, node_modules
  /etc/systemd/system/st-{server,broker,gateway,discovery}.service
  /etc/session-tunnels/{server,broker,gateway,discovery}.env   settings (0600), only if absent
  /etc/session-tunnels/secrets.env         shared secrets (0600, root), only if absent
then runs systemctl daemon-reload and enables the units named by --enable.

Options:
  --from DIR      a repository checkout after `npm ci && npm run build` (default: the one this
                  script is in)
  --enable UNITS  comma list of server, broker, gateway, discovery (default: server, the
                  all-in-one); the others are installed but not enabled
  --now           also (re)start the enabled units
  --help          this text

Environment:
  DESTDIR=DIR     install under DIR (for packages and tests): no systemctl
  NODE=PATH       the node the units run (default /usr/bin/node, as in the units)
USAGE
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
from=$(cd "$here/../.." && pwd)
enable=server
start_now=0
while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h) usage; exit 0 ;;
    --from) [ $# -ge 2 ] || { echo "install-server.sh: --from needs a directory" >&2; exit 2; }; from=$2; shift 2 ;;
    --from=*) from=${1#--from=}; shift ;;
    --enable) [ $# -ge 2 ] || { echo "install-server.sh: --enable needs a list" >&2; exit 2; }; enable=$2; shift 2 ;;
    --enable=*) enable=${1#--enable=}; shift ;;
    --now) start_now=1; shift ;;
    *) echo "install-server.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

roles=(server broker gateway discovery)
IFS=, read -r -a wanted <<<"$enable"
for unit in "${wanted[@]}"; do
  case " ${roles[*]} " in *" $unit "*) ;; *) echo "install-server.sh: --enable: unknown unit $unit (use server, broker, gateway, discovery)" >&2; exit 2 ;; esac
done
# st-discovery came later: a checkout from before it has no apps/discovery at all.
for role in "${roles[@]}"; do
  if [ "$role" = discovery ] && [ ! -d "$from/apps/discovery" ]; then continue; fi
  if [ ! -f "$from/apps/$role/dist/main.js" ] || [ ! -d "$from/node_modules" ]; then
    echo "install-server.sh: $from is not built (no apps/$role/dist/main.js or node_modules): run npm ci && npm run build there, or give --from DIR" >&2
    exit 1
  fi
done

destdir=${DESTDIR:-}
opt="$destdir/opt/session-tunnels/server"
etc="$destdir/etc/session-tunnels"
unit_dir="$destdir/etc/systemd/system"
node=${NODE:-/usr/bin/node}
say() { printf 'install-server.sh: %s\n' "$*"; }

if [ -z "$destdir" ] && ! "$node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  say "WARNING: $node is missing or older than 20: the units' ExecStart uses it" >&2
fi

# A fresh copy each time, so files a newer version dropped do not linger; root's, read-only to
# the server's dynamic user.
rm -rf "$opt.new"
install -d -m 0755 "$opt.new" "$opt.new/docs"
(cd "$from" && tar -cf - package.json node_modules apps/*/package.json apps/*/bin apps/*/dist) | tar -xf - -C "$opt.new"
install -m 0644 "$from/docs/deployment.md" "$opt.new/docs/deployment.md"
rm -rf "$opt.old"
if [ -e "$opt" ]; then mv "$opt" "$opt.old"; fi
mv "$opt.new" "$opt"
rm -rf "$opt.old"
say "installed the server into $opt"

install -d -m 0755 "$unit_dir"
for role in "${roles[@]}"; do install -m 0644 "$here/st-$role.service" "$unit_dir/st-$role.service"; done
say "installed st-{server,broker,gateway,discovery}.service into $unit_dir"

# Every file 0600 root: systemd reads them before it drops privileges.
install -d -m 0755 "$etc"
for name in server broker gateway discovery secrets; do
  if [ -e "$etc/$name.env" ]; then
    say "kept $etc/$name.env (already there)"
  else
    install -m 0600 "$here/$name.env.example" "$etc/$name.env"
    say "wrote $etc/$name.env: edit it"
  fi
done

if [ -n "$destdir" ]; then
  say "DESTDIR set: not calling systemctl"
  exit 0
fi
systemctl daemon-reload
for unit in "${wanted[@]}"; do
  systemctl enable "st-$unit.service"
  if [ "$start_now" -eq 1 ]; then systemctl restart "st-$unit.service"; fi
done
say "enabled ${wanted[*]/#/st-}$([ "$start_now" -eq 1 ] && echo ' and started them' || echo ': start with systemctl start st-<unit>')"
