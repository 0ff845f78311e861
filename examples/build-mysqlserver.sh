#!/bin/sh
# Rebuild examples/mysqlserver/ (the snapshot of a Docker host running mysqlserver -p 8066:3306) from real tools:
# builds the host in throw-away network namespaces (eth0 to an upstream router, docker0, two veth "containers"), loads
# mysqlserver-rules.in with iptables-restore, and writes what iptables-save, ip, bridge, sysctl and ipset print.
# docker-inspect.json, docker-network-inspect.json and ss.txt are written by hand (no dockerd runs here) in the
# formats those commands print; the containers' MACs are set here to the ones they name.  Needs root; touches only the namespaces it creates.
set -eu
cd "$(dirname "$0")"
out=mysqlserver
h=natsim-ex-host-$$ m=natsim-ex-mysql-$$ w=natsim-ex-web-$$ o=natsim-ex-out-$$
cleanup() { for ns in $h $m $w $o; do ip netns del "$ns" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
for ns in $h $m $w $o; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
H="ip netns exec $h"
$H ip link add eth0 type veth peer name eth0 netns $o  # the upstream router lives in $o
ip -n $o addr add 192.0.2.1/24 dev eth0
ip -n $o link set eth0 up
$H ip addr add 192.0.2.10/24 dev eth0
$H ip link set eth0 up
$H ip route add default via 192.0.2.1 dev eth0
$H ip link add docker0 type bridge
$H ip addr add 172.17.0.1/16 dev docker0
$H ip link set docker0 up
add_container() {  # NS HOSTVETH ADDRESS MAC (the MACs docker-inspect.json names)
    $H ip link add "$2" type veth peer name eth0 netns "$1"
    $H ip link set "$2" master docker0 up
    ip -n "$1" link set eth0 address "$4"
    ip -n "$1" addr add "$3/16" dev eth0
    ip -n "$1" link set eth0 up
    ip -n "$1" route add default via 172.17.0.1
}
add_container $m veth4a1b2c3 172.17.0.2 6a:34:f4:e9:97:29
add_container $w veth9d8e7f6 172.17.0.3 ea:46:30:8e:9b:c5
$H sysctl -qw net.ipv4.ip_forward=1
$H iptables-restore < mysqlserver-rules.in
for c in 172.17.0.2 172.17.0.3; do  # one TCP SYN to each container fills the ARP table and the bridge fdb
    $H python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); s.connect_ex((sys.argv[1], 9))" $c
done
mkdir -p $out
$H iptables-save > $out/iptables.rules
$H ipset save > $out/ipset.txt
$H ip -d -j addr > $out/ip-addr.json
$H ip -j route show table all > $out/ip-route.json
$H ip -j rule > $out/ip-rule.json
$H bridge -j -d link > $out/bridge-link.json
$H ip -j neigh > $out/ip-neigh.json
$H bridge -j fdb show > $out/bridge-fdb.json
$H sysctl -a 2>/dev/null | grep -E '^net\.(ipv4\.(ip_forward|conf\.[^.]+\.(route_localnet|rp_filter|forwarding|accept_local))|bridge\.)' > $out/sysctl.txt || true
echo "wrote $out/ (docker-inspect.json, docker-network-inspect.json and ss.txt are kept as they are)"
