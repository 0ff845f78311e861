"""Option values iptables refuses are refused, values it accepts are read as it reads them
(docs/decisions/0151-*): each outcome checked against iptables 1.8.9, legacy and nft."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from natsim.errors import InputError
from natsim.parse import parse_text
from natsim.render.save import render_rule, render_rule_spec, render_ruleset

TCP_SYN = "-p tcp --tcp-flags SYN,RST SYN"


def _text(line: str, table: str = "filter") -> str:
    return f"*{table}\n-A INPUT {line}\nCOMMIT\n" if table == "filter" else f"*{table}\n-A {line}\nCOMMIT\n"


def _parse(line: str, family: int | None = None):
    return parse_text(_text(line), "f.rules", family=family).ruleset


#: (rule after ``-A INPUT``, the refused word, expected text); the family is detected (IPv4).
REFUSED = [
    ("-m conntrack --ctstate FOO", "FOO", "a comma list of conntrack states (INVALID, NEW, ESTABLISHED, RELATED, "
     "UNTRACKED, SNAT, DNAT, or a prefix of one)"),
    ("-m conntrack --ctstate NEW,", "NEW,", "a comma list of conntrack states (INVALID, NEW, ESTABLISHED, "
     "RELATED, UNTRACKED, SNAT, DNAT, or a prefix of one)"),
    ("-m conntrack --ctstatus BOGUS", "BOGUS", "a comma list of conntrack statuses (NONE, EXPECTED, SEEN_REPLY, "
     "ASSURED, CONFIRMED, or a prefix of one)"),
    ("-m conntrack --ctdir orig", "orig", "ORIGINAL or REPLY"),
    ("-m state --state BOGUS", "BOGUS", "a comma list of states (INVALID, NEW, ESTABLISHED, RELATED, UNTRACKED, "
     "or a prefix of one)"),
    ("-m state --state SNAT", "SNAT", "a comma list of states (INVALID, NEW, ESTABLISHED, RELATED, UNTRACKED, "
     "or a prefix of one)"),
    ("-m addrtype --dst-type BOGUS", "BOGUS", "a comma list of address types (UNSPEC, UNICAST, LOCAL, BROADCAST, "
     "ANYCAST, MULTICAST, BLACKHOLE, UNREACHABLE, PROHIBIT, THROW, NAT, XRESOLVE, or a prefix of one)"),
    *((f"-m limit --limit {r}", r, "a rate N/UNIT with 1 <= N and UNIT second, minute, hour or day "
       "(at most 10000/second)") for r in ("0/sec", "5/fortnight", "5/hours", "5/", "-5/sec", "20000/sec")),
    *((f"-m limit --limit-burst {b}", b, "a burst (the kernel refuses 0) between 1 and 10000")
      for b in ("0", "10001", "4294967296")),
    ("-m statistic --mode nth --packet 0 --every 0", "0", "a count between 1 and 4294967295"),
    ("-m statistic --mode NTH --every 2 --packet 0", "NTH", "random or nth"),
    *((f"-j LOG --log-level {v}", v, "a log level 0..7 or emerg, alert, crit, err, warning, notice, info, debug")
      for v in ("99", "8", "DEBUG", "warn", "bogus")),
    ("-m tos --tos 0x100", "0x100", "a TOS value 0..0xff[/MASK] or a name like Minimize-Delay"),
    ("-m tos --tos bogus", "bogus", "a TOS value 0..0xff[/MASK] or a name like Minimize-Delay"),
    ("-m tos --tos 0x10/0x100", "0x10/0x100", "a TOS mask between 0 and 255"),
    ("-m dscp --dscp 64", "64", "a DSCP value between 0 and 63"),
    ("-m dscp --dscp-class XX", "XX", "a DiffServ class (CS0..CS7, BE, AF11..AF43, EF)"),
    ("-m dscp --dscp-class AF1", "AF1", "a DiffServ class (CS0..CS7, BE, AF11..AF43, EF)"),
    ("-p tcp --tcp-option 256", "256", "a number between 0 and 255"),
    ("-m policy --dir IN --pol none", "IN", "in or out"),
    ("-m policy --dir in --pol bogus", "bogus", "none or ipsec"),
    ("-m policy --dir in --pol ipsec --mode bogus", "bogus", "transport or tunnel"),
    ("-j REJECT --reject-with bogus", "bogus", "an IPv4 reject type such as icmp-port-unreachable or tcp-reset"),
    ("-j REJECT --reject-with port-unreachable", "port-unreachable",
     "an IPv4 reject type such as icmp-port-unreachable or tcp-reset"),
    ("-j REJECT --reject-with icmp-host-prohibitedXX", "icmp-host-prohibitedXX",
     "an IPv4 reject type such as icmp-port-unreachable or tcp-reset"),
    ('-j REJECT --reject-with ""', '""', "a reject type of one family (iptables reads this as "
     "icmp-net-unreachable, ip6tables as icmp6-no-route)"),
    ("-j NFLOG --nflog-group 70000", "70000", "a number between 0 and 65535"),
    (f"{TCP_SYN} -j TCPMSS --set-mss 70000", "70000", "an MSS between 0 and 65515"),
    (f"{TCP_SYN} -j TCPMSS --set-mss 65516", "65516", "an MSS between 0 and 65515"),
    ("-p tcp --dport 08", "08", "a port (a leading 0 makes it octal, 0x hexadecimal)"),
    ("-p sctp --sport 0x10000", "0x10000", "a port (a leading 0 makes it octal, 0x hexadecimal) between 0 and 65535"),
    ("-p udp --dport 0x50", "0x50", "a port number or service name"),
]


@pytest.mark.parametrize("rule, word, expected", REFUSED, ids=[r for r, _w, _e in REFUSED])
def test_refused_with_location(rule: str, word: str, expected: str) -> None:
    line = f"-A INPUT {rule}"
    with pytest.raises(InputError) as info:
        _parse(rule)
    err = info.value
    assert (err.file, err.line, err.column) == ("f.rules", 2, line.rindex(word) + 1)
    assert err.found == f"found {word.strip(chr(34))!r}"
    assert err.expected == f"expected {expected}"


#: (IPv6 rule, refused word, expected text): values only ip6tables refuses.
REFUSED6 = [
    ("-j REJECT --reject-with icmp-net-unreachable", "icmp-net-unreachable",
     "an IPv6 reject type such as icmp6-port-unreachable or tcp-reset"),
    (f"{TCP_SYN} -j TCPMSS --set-mss 65515", "65515", "an MSS between 0 and 65495"),
]


@pytest.mark.parametrize("rule, word, expected", REFUSED6)
def test_refused_in_ipv6(rule: str, word: str, expected: str) -> None:
    with pytest.raises(InputError) as info:
        _parse(rule, family=6)
    assert info.value.column == f"-A INPUT {rule}".rindex(word) + 1
    assert info.value.expected == f"expected {expected}"


def test_an_ipv4_reject_type_sets_the_family() -> None:
    with pytest.raises(InputError) as info:
        parse_text("*filter\n-A INPUT -j REJECT --reject-with icmp-host-prohibited\n-A INPUT -s fd00::1 -j DROP\n"
                   "COMMIT\n", "f.rules")
    assert info.value.line == 3 and info.value.expected == "expected an IPv4 address: this ruleset is IPv4"


#: (rule after ``-A INPUT``, what iptables-save prints for it): accepted, read as iptables reads it.
ACCEPTED = [
    ("-m conntrack --ctstate new,established", "-m conntrack --ctstate NEW,ESTABLISHED"),
    ("-m conntrack --ctstate EST", "-m conntrack --ctstate ESTABLISHED"),
    ("-m conntrack --ctstate N", "-m conntrack --ctstate NEW"),
    ("-m conntrack --ctstatus EXP", "-m conntrack --ctstatus EXPECTED"),
    ("-m conntrack --ctdir original", "-m conntrack --ctdir ORIGINAL"),
    ("-m state --state untracked", "-m state --state UNTRACKED"),
    ("-m state --state EST", "-m state --state ESTABLISHED"),
    ("-m addrtype --dst-type LOC", "-m addrtype --dst-type LOCAL"),
    ("-m addrtype --dst-type LOCAL,UNICAST", "-m addrtype --dst-type UNICAST,LOCAL"),
    ("-m limit --limit 5x/sec", "-m limit --limit 5/sec"),
    ("-m limit --limit 5", "-m limit --limit 5/sec"),
    ("-m limit --limit 5/d", "-m limit --limit 5/day"),
    ("-m limit --limit 4294967297/sec", "-m limit --limit 1/sec"),
    ("-m limit --limit 3/min --limit-burst 10000", "-m limit --limit 3/min --limit-burst 10000"),
    ("-m statistic --mode nth --every 3 --packet 2", "-m statistic --mode nth --every 3 --packet 2"),
    ("-j LOG --log-level 0x7", "-j LOG --log-level 7"),
    ("-j LOG --log-level 07", "-j LOG --log-level 7"),
    ("-j LOG --log-level error", "-j LOG --log-level 3"),
    ("-j LOG --log-level panic", "-j LOG --log-level 0"),
    ("-m tos --tos 0xff", "-m tos --tos 0xff/0xff"),
    ("-m tos --tos minimize-delay", "-m tos --tos 0x10/0x3f"),
    ("-m dscp --dscp 0x3f", "-m dscp --dscp 0x3f"),
    ("-m dscp --dscp-class af11", "-m dscp --dscp 0xa"),
    ("-m dscp --dscp-class AF11XYZ", "-m dscp --dscp 0xa"),
    ("-m dscp --dscp-class BE", "-m dscp --dscp 0x0"),
    ("-m mac --mac-source 0:1:2:3:4:5", "-m mac --mac-source 00:01:02:03:04:05"),
    ("-m mac --mac-source :1:2:3:4:5", "-m mac --mac-source 00:01:02:03:04:05"),
    ("-m mac --mac-source AA:BB:CC:DD:EE:FF", "-m mac --mac-source aa:bb:cc:dd:ee:ff"),
    ("-p tcp --tcp-option 255", "-p tcp -m tcp --tcp-option 255"),
    ("-j REJECT --reject-with icmp-admin", "-j REJECT --reject-with icmp-admin-prohibited"),
    ("-j REJECT --reject-with ICMP-HOST-PROHIBITED", "-j REJECT --reject-with icmp-host-prohibited"),
    ("-j REJECT --reject-with port-unreach", "-j REJECT --reject-with icmp-port-unreachable"),
    ("-j NFLOG --nflog-group 65535", "-j NFLOG --nflog-group 65535"),
    (f"{TCP_SYN} -j TCPMSS --set-mss 65515", "-p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 65515"),
    (f"{TCP_SYN} -j TCPMSS --set-mss 0", "-p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 0"),
    ("-m policy --dir in --pol ipsec --mode tunnel", "-m policy --dir in --pol ipsec --mode tunnel"),
    # ports: tcp, sctp and multiport read them as strtoul(..., 0); udp, dccp and conntrack in decimal (0152)
    ("-p tcp --dport 010", "-p tcp -m tcp --dport 8"),
    ("-p tcp --sport 0x50:0121", "-p tcp -m tcp --sport 80:81"),
    ("-p sctp --dport 010", "-p sctp -m sctp --dport 8"),
    ("-p tcp -m multiport --dports 010,0x50", "-p tcp -m multiport --dports 8,80"),
    ("-p udp --dport 010", "-p udp -m udp --dport 10"),
    ("-p dccp --dport 010", "-p dccp -m dccp --dport 10"),
    ("-m conntrack --ctorigdstport 010", "-m conntrack --ctorigdstport 10"),
]


@pytest.mark.parametrize("rule, saved", ACCEPTED, ids=[r for r, _s in ACCEPTED])
def test_accepted_and_rendered_back(rule: str, saved: str) -> None:
    ruleset = _parse(rule)
    (parsed,) = ruleset.chain("filter", "INPUT").rules
    assert render_rule(parsed, "INPUT", family=ruleset.family) == f"-A INPUT {saved}"
    again = parse_text(render_ruleset(ruleset), "g.rules").ruleset
    assert again.chain("filter", "INPUT").rules[0] == parsed


@pytest.mark.parametrize("rule, saved", [
    ("-j REJECT --reject-with icmp6-adm", "-j REJECT --reject-with icmp6-adm-prohibited"),
    ("-j REJECT --reject-with icmp", "-j REJECT --reject-with icmp6-no-route"),
    (f"{TCP_SYN} -j TCPMSS --set-mss 65495", "-p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 65495"),
])
def test_accepted_in_ipv6(rule: str, saved: str) -> None:
    ruleset = _parse(rule, family=6)
    assert render_rule(ruleset.chain("filter", "INPUT").rules[0], "INPUT", family=6) == f"-A INPUT {saved}"


@pytest.mark.parametrize("rule, saved", [
    ('-m physdev --physdev-in "" -j ACCEPT', '-m physdev --physdev-in "" -j ACCEPT'),
    ('-m physdev ! --physdev-out "" -j ACCEPT', '-m physdev ! --physdev-out "" -j ACCEPT'),
    ('-i "a b" -j ACCEPT', '-i "a b" -j ACCEPT'),
    ('! -o "x y" -m physdev --physdev-in "b r" -j ACCEPT', '! -o "x y" -m physdev --physdev-in "b r" -j ACCEPT'),
])
def test_odd_interface_names_round_trip(rule: str, saved: str) -> None:
    """iptables-save prints these words bare; natsim quotes them so that it can read them back."""
    ruleset = _parse(rule)
    assert render_rule(ruleset.chain("filter", "INPUT").rules[0], "INPUT") == f"-A INPUT {saved}"
    again = parse_text(render_ruleset(ruleset), "g.rules").ruleset
    assert again.tables == ruleset.tables


# -- the kernel decides ---------------------------------------------------------------------------

#: Lines natsim refuses and those it accepts; legacy iptables-restore must agree on each.
KERNEL_LINES = [
    *(r for r, _w, _e in REFUSED if "--reject-with \"\"" not in r),
    *(r for r, _s in ACCEPTED),
]


def _kernel_missing() -> str | None:
    if os.geteuid() != 0:
        return "kernel tests need root (network namespaces, iptables)"
    for tool in ("ip", "iptables-legacy-restore"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.mark.kernel
def test_legacy_iptables_agrees() -> None:
    """Each line loaded alone (``--test`` and a real load: xt_limit refuses a burst of 0 only in the
    kernel) in a throwaway namespace: natsim refuses exactly the lines iptables-legacy-restore refuses."""
    reason = _kernel_missing()
    if reason:
        pytest.skip(reason)
    name = f"natsim-optval-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=20)
    disagree = []
    verdicts = set()
    try:
        for rule in KERNEL_LINES:
            text = _text(rule)
            kernel_ok = all(
                subprocess.run(["ip", "netns", "exec", name, "iptables-legacy-restore", *flag], input=text,
                               capture_output=True, text=True, timeout=20).returncode == 0
                for flag in (["--test"], [])
            )
            try:
                _parse(rule)
                natsim_ok = True
            except InputError:
                natsim_ok = False
            verdicts.add(kernel_ok)
            if kernel_ok != natsim_ok:
                disagree.append((rule, kernel_ok, natsim_ok))
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=20, capture_output=True)
    assert verdicts == {True, False}
    assert not disagree, disagree


#: NAT ports read as tcp's (decision 0152): what iptables-save prints back for each.
NAT_PORTS = [
    ("-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:010", "--to-destination 1.2.3.4:8"),
    ("-A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:0x50-0x51", "--to-destination 1.2.3.4:80-81"),
    ("-A PREROUTING -p tcp -j REDIRECT --to-ports 010", "--to-ports 8"),
]


@pytest.mark.parametrize("rule, saved", NAT_PORTS)
def test_nat_ports_are_read_as_tcp_reads_them(rule: str, saved: str) -> None:
    rs = parse_text(f"*nat\n:PREROUTING ACCEPT [0:0]\n{rule}\nCOMMIT\n", "n.rules").ruleset
    assert saved in render_ruleset(rs)


@pytest.mark.kernel
def test_ports_mean_what_the_kernel_stored() -> None:
    """Load port spellings with iptables-legacy-restore and compare what iptables-legacy-save prints with natsim's
    model of the same input: equal rules, so every port means the same number."""
    reason = _kernel_missing()
    if reason:
        pytest.skip(reason)
    lines = [r for r, _s in ACCEPTED if "port" in r]
    text = "*filter\n:INPUT ACCEPT [0:0]\n" + "".join(f"-A INPUT {r}\n" for r in lines) + "COMMIT\n" + \
        "*nat\n:PREROUTING ACCEPT [0:0]\n" + "".join(f"{r}\n" for r, _s in NAT_PORTS) + "COMMIT\n"
    name = f"natsim-ports-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=20)
    try:
        subprocess.run(["ip", "netns", "exec", name, "iptables-legacy-restore"], input=text, text=True, check=True,
                       capture_output=True, timeout=20)
        saved = subprocess.run(["ip", "netns", "exec", name, "iptables-legacy-save"], text=True, check=True,
                               capture_output=True, timeout=20).stdout
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=20, capture_output=True)
    mine = parse_text(text, "ports.rules").ruleset
    kernel = parse_text(saved, "saved.rules").ruleset
    for table in ("filter", "nat"):
        ours = [render_rule_spec(r) for c in mine.table(table).chains for r in c.rules]
        theirs = [render_rule_spec(r) for c in kernel.table(table).chains for r in c.rules]
        assert ours == theirs
