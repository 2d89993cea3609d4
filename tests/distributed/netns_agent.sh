#!/usr/bin/env bash
# Open MPI's remote launcher for the two-host test (plm_rsh_agent): called like ssh, as
# `agent [options] <host> <command ...>`, it starts the command inside the network namespace that
# owns <host>'s address instead of logging in over ssh. Only process start-up goes through here; the
# ranks talk to each other and to mpirun over TCP across the veth link, as on real machines.
set -euo pipefail
while [[ "${1:-}" == -* ]]; do shift; done
host=$1
shift
ns=""
for n in $(ip netns list | awk '{print $1}'); do
  if ip netns exec "$n" ip -o -4 addr show 2>/dev/null | grep -q " inet $host/"; then ns=$n; break; fi
done
[ -n "$ns" ] || { echo "netns_agent: no network namespace has the address $host" >&2; exit 1; }
echo "netns_agent: starting Open MPI's daemon for $host in network namespace $ns" >&2
exec ip netns exec "$ns" sh -c "$*"
