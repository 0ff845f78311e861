#!/bin/sh
# Records tests/topology/data/host1/: a Docker-like host built in throw-away network namespaces
# (bridge docker0 172.17.0.1/16 with two veth "containers" 172.17.0.2 (hairpin on) and
# 172.17.0.3 (hairpin off), uplink eth0 192.0.2.10/24), snapshotted with the standard commands.
# Run as root: sh record-host1.sh DIR
set -eu
out=${1:-host1}
H=topo-rec-host.$$ ; A=topo-rec-c1.$$ ; B=topo-rec-c2.$$ ; O=topo-rec-out.$$
trap 'ip netns del $H; ip netns del $A; ip netns del $B; ip netns del $O' EXIT
for n in $H $A $B $O; do ip netns add $n; ip -n $n link set lo up; done
ip -n $H link add eth0 type veth peer name eth0 netns $O
ip -n $H addr add 192.0.2.10/24 dev eth0; ip -n $H link set eth0 up
ip -n $O addr add 192.0.2.1/24 dev eth0; ip -n $O link set eth0 up
ip -n $H route add default via 192.0.2.1
ip -n $H link add docker0 type bridge forward_delay 0 stp_state 0
ip -n $H addr add 172.17.0.1/16 dev docker0; ip -n $H link set docker0 up
i=0
for c in $A $B; do
  i=$((i+1))
  ip -n $H link add veth$i type veth peer name eth0 netns $c
  ip -n $H link set veth$i master docker0
  ip -n $H link set veth$i up
  ip -n $c addr add 172.17.0.$((i+1))/16 dev eth0; ip -n $c link set eth0 up
  ip -n $c route add default via 172.17.0.1
done
ip -n $H link set dev veth1 type bridge_slave hairpin on
ip -n $H link set dev veth2 type bridge_slave hairpin off
ip netns exec $H sysctl -qw net.ipv4.ip_forward=1
ip netns exec $H python3 -c "import socket,time; s=socket.socket(2,2); s.sendto(b\"x\",(\"172.17.0.2\",9)); time.sleep(0.3)"
ip netns exec $H python3 -c "import socket,time; s=socket.socket(2,2); s.sendto(b\"x\",(\"172.17.0.3\",9)); time.sleep(0.3)"
mkdir -p "$out"
ip -n $H -d -j addr > "$out/ip-addr.json"
ip -n $H -j route show table all > "$out/ip-route.json"
ip -n $H -j rule > "$out/ip-rule.json"
ip -n $H -6 -j rule > "$out/ip6-rule.json"
bridge -n $H -j -d link > "$out/bridge-link.json"
ip -n $H -j neigh > "$out/ip-neigh.json"
bridge -n $H -j fdb show > "$out/bridge-fdb.json"
ip netns exec $H sysctl -a 2>/dev/null | grep '^net\.' > "$out/sysctl.txt" || true
ip netns exec $H ss -Hltnup > "$out/ss.txt"
ip -n $A -d -j addr > "$out.c1-ip-addr.json"
