#!/usr/bin/env bash
# Installs st-agent as a systemd service (see --help). Safe to run again: it updates the bundle
# and the unit, and never touches settings or a token that are already there.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: install.sh [--bundle FILE] [--now] [--help]

Installs the Session Tunnels agent as the systemd service st-agent:
  /opt/session-tunnels/st-agent.js        the standalone bundle (plain node, no node_modules)
  /etc/systemd/system/st-agent.service    the unit
  /etc/session-tunnels/agent.yaml         settings, from agent.yaml.example, only if absent
                                          (mode 0640, group session-tunnels, which is created)
then runs systemctl daemon-reload and enables the unit.

The token is not installed: write it to /etc/session-tunnels/agent.token (mode 0600, root);
systemd hands it to the agent (LoadCredential=). Set brokerUrl in agent.yaml, then
`systemctl start st-agent` (or run this with --now).

Options:
  --bundle FILE   the bundle to install (default: st-agent.js beside this script, else
                  apps/agent/dist/st-agent.js of the repository this script is in)
  --now           also start the unit (restart it when it runs already)
  --help          this text

Environment:
  DESTDIR=DIR     install under DIR (for packages and tests): no systemctl, no groupadd, no chgrp
  NODE=PATH       the node that must exist on the target (default /usr/bin/node, as in the unit)
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bundle=""
start_now=0
while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h) usage; exit 0 ;;
    --bundle) [ $# -ge 2 ] || { echo "install.sh: --bundle needs a file" >&2; exit 2; }; bundle=$2; shift 2 ;;
    --bundle=*) bundle=${1#--bundle=}; shift ;;
    --now) start_now=1; shift ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$bundle" ]; then
  for candidate in "$here/st-agent.js" "$here/../../apps/agent/dist/st-agent.js"; do
    if [ -f "$candidate" ]; then bundle=$candidate; break; fi
  done
fi
if [ -z "$bundle" ] || [ ! -f "$bundle" ]; then
  echo "install.sh: no st-agent bundle${bundle:+ at $bundle}: build it (npm run build: apps/agent/dist/st-agent.js) or give --bundle FILE" >&2
  exit 1
fi

destdir=${DESTDIR:-}
opt="$destdir/opt/session-tunnels"
etc="$destdir/etc/session-tunnels"
unit_dir="$destdir/etc/systemd/system"
group=session-tunnels
node=${NODE:-/usr/bin/node}

say() { printf 'install.sh: %s\n' "$*"; }

# The unit runs /usr/bin/node: on the target itself, say now if it is missing or too old.
if [ -z "$destdir" ]; then
  if [ ! -x "$node" ]; then
    say "WARNING: $node is missing: install Node.js 20 or newer there (the unit's ExecStart uses it)" >&2
  elif ! "$node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    say "WARNING: $node is $("$node" --version): st-agent needs Node.js 20 or newer" >&2
  fi
fi

install -d -m 0755 "$opt" "$unit_dir"
install -m 0644 "$bundle" "$opt/st-agent.js"
install -m 0644 "$here/st-agent.service" "$unit_dir/st-agent.service"
install -m 0644 "$here/agent.yaml.example" "$opt/agent.yaml.example"
say "installed $opt/st-agent.js and $unit_dir/st-agent.service"

# The agent runs as a dynamic user, which reads agent.yaml through this fixed group.
if [ -z "$destdir" ] && ! getent group "$group" >/dev/null; then
  groupadd --system "$group"
  say "created the group $group"
fi

install -d -m 0755 "$etc"
if [ -e "$etc/agent.yaml" ]; then
  say "kept $etc/agent.yaml (already there)"
else
  install -m 0640 "$here/agent.yaml.example" "$etc/agent.yaml"
  say "wrote $etc/agent.yaml: set brokerUrl in it"
fi
if [ -z "$destdir" ]; then
  chgrp "$group" "$etc/agent.yaml"
fi
if [ ! -e "$etc/agent.token" ]; then
  say "next: write the tunnel's agent token to $etc/agent.token (install -m 0600 /dev/null $etc/agent.token, then edit it)"
fi

if [ -n "$destdir" ]; then
  say "DESTDIR set: not calling systemctl"
  exit 0
fi
systemctl daemon-reload
systemctl enable st-agent.service
if [ "$start_now" -eq 1 ]; then
  systemctl restart st-agent.service
  say "started st-agent: systemctl status st-agent"
else
  say "enabled st-agent (starts at boot); start it now with: systemctl start st-agent"
fi
