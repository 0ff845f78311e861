"""One long-lived helper process per network namespace of the lab.

Why a process per namespace: a TCP probe through the kernel takes about a millisecond,
while starting ``ip netns exec NS python ...`` takes tens of milliseconds. The agent joins
its namespace once (``setns`` through ctypes: Python 3.11 has no ``os.setns``) and then
serves requests, one JSON object per line on stdin, one answer per line on stdout.

Stdlib only, and runnable as a plain script (``python agent.py NETNS``), so it never
imports the test package or natsim.

Requests (``{"op": ..., ...}``) and what they do:
  run       run a program inside the namespace (iproute2, iptables-restore, ipset, ...)
  sysctl    write /proc/sys values of this namespace
  listen    a TCP/UDP server that answers every client with the peer address it saw
  proxy     an emulated docker-proxy: accept on the host, connect to the container, relay
  probe     TCP connect / UDP request / ICMP echo with a bounded timeout; ``probes``: many at once
  spawn     start a background program (``xtables-monitor --trace``), read its output as it comes;
            ``peek`` waits for a string in it, ``collect`` stops it and returns the output
  read      read a file (a /proc/sys value) as this namespace sees it
  close     stop a listener or proxy

Run as ``agent.py --zygote FD`` it forks one agent per request instead (see :func:`zygote`).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

CLONE_NEWNET = 0x40000000

# Probe outcomes (documented in tests/lab/README.md).
CONNECTED = "connected"  # the server answered (its answer says which peer address it saw)
CLOSED = "closed"  # TCP handshake done, then the peer closed without answering (proxy backend refused)
REFUSED = "refused"  # RST / ICMP port unreachable
TIMEOUT = "timeout"  # nothing came back in time (a DROP somewhere), or accepted and then silence
UNREACHABLE = "unreachable"  # ICMP host/net unreachable, or no route
ERROR = "error"  # any other errno (EPERM from a local OUTPUT drop, ...); see detail
ANSWER_WAIT = 1.0  # at least this long (and twice the connect timeout) for an accepted connection's answer


def join_netns(name: str) -> None:
    """Move this (still single-threaded) process into the named namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def family_of(addr: str) -> int:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # linux/in.h; Python 3.11 does not export it


def enable_pktinfo(sock: socket.socket) -> None:
    """Ask for each datagram's destination address, so answers leave from the address the client used.

    docker-proxy does this (IP_PKTINFO / IPV6_RECVPKTINFO); without it a server bound to the
    wildcard answers from whatever source routing picks and a connected client ignores the answer.
    """
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)


def recv_with_dst(sock: socket.socket, size: int) -> tuple[bytes, tuple, str | None]:
    data, anc, _, peer = sock.recvmsg(size, 256)
    for level, kind, raw in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            return data, peer, socket.inet_ntop(socket.AF_INET, raw[8:12])  # in_pktinfo.ipi_addr
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            return data, peer, socket.inet_ntop(socket.AF_INET6, raw[:16])  # in6_pktinfo.ipi6_addr
    return data, peer, None


def send_from(sock: socket.socket, data: bytes, peer: tuple, local: str | None) -> None:
    if local is None:
        sock.sendto(data, peer)
    elif sock.family == socket.AF_INET6:
        info = socket.inet_pton(socket.AF_INET6, local) + struct.pack("@I", 0)
        sock.sendmsg([data], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)], 0, peer)
    else:
        info = struct.pack("@i", 0) + socket.inet_pton(socket.AF_INET, local) + bytes(4)  # ifindex, spec_dst, addr
        sock.sendmsg([data], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, peer)


def answer_line(peer: tuple, local: tuple, by: str) -> bytes:
    msg = {"seen": peer[0], "seen_port": peer[1], "local": local[0], "local_port": local[1], "by": by}
    return (json.dumps(msg) + "\n").encode()


class Listener:
    """A TCP or UDP server answering each client with the address it saw."""

    def __init__(self, proto: str, addr: str, port: int, by: str):
        self.proto, self.by = proto, by
        fam = family_of(addr)
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        self.sock = socket.socket(fam, kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.sock.bind((addr, port))
        if proto == "tcp":
            self.sock.listen(128)
        else:
            enable_pktinfo(self.sock)
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopped:
            try:
                if self.proto == "tcp":
                    conn, peer = self.sock.accept()
                    try:
                        conn.sendall(answer_line(peer, conn.getsockname(), self.by))
                    except OSError:
                        pass
                    conn.close()
                else:
                    data, peer, dst = recv_with_dst(self.sock, 2048)
                    if peer is None:  # shut down by close()
                        return
                    local = (dst or self.sock.getsockname()[0], self.sock.getsockname()[1])
                    send_from(self.sock, answer_line(peer, local, self.by), peer, dst)
            except OSError:
                if self.stopped:
                    return

    def close(self) -> None:
        """Stop serving and wait until the socket is really gone.

        A thread blocked in accept/recvmsg keeps the kernel socket (still bound, still receiving)
        until it wakes up; on a busy machine a server started at once on the same port (UDP binds
        it too, with SO_REUSEADDR) would share the port with the dying one.
        """
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked thread (ENOTCONN for UDP, but it wakes)
        except OSError:
            pass
        if self.thread is not threading.current_thread():
            self.thread.join(2.0)
        self.sock.close()


class Proxy(Listener):
    """docker-proxy's behaviour: a host listener that opens its *own* connection to the container.

    The kernel picks the source address of that second connection (the bridge gateway for a
    container on a local bridge), which is what the container then sees.
    """

    def __init__(self, proto: str, addr: str, port: int, to_addr: str, to_port: int, by: str):
        self.target = (to_addr, to_port)
        self.udp_peers: dict[tuple, socket.socket] = {}
        super().__init__(proto, addr, port, by)

    def serve(self) -> None:
        while not self.stopped:
            try:
                if self.proto == "tcp":
                    conn, _ = self.sock.accept()
                    threading.Thread(target=self.relay_tcp, args=(conn,), daemon=True).start()
                else:
                    data, peer, dst = recv_with_dst(self.sock, 65535)
                    if peer is None:  # shut down by close()
                        return
                    self.relay_udp(data, peer, dst)
            except OSError:
                if self.stopped:
                    return

    def relay_tcp(self, client: socket.socket) -> None:
        try:
            # no timeout, as docker-proxy (net.DialTCP): a silently dropped backend leaves the client hanging
            backend = socket.create_connection(self.target)
        except OSError:
            client.close()  # docker-proxy also accepts first and closes when the backend refuses
            return

        def pump(a: socket.socket, b: socket.socket) -> None:
            try:
                while chunk := a.recv(65536):
                    b.sendall(chunk)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(client, backend), daemon=True)
        t.start()
        pump(backend, client)
        t.join(2.0)
        client.close()
        backend.close()

    def relay_udp(self, data: bytes, peer: tuple, dst: str | None) -> None:
        back = self.udp_peers.get(peer)
        if back is None:
            back = socket.socket(family_of(self.target[0]), socket.SOCK_DGRAM)
            back.connect(self.target)
            self.udp_peers[peer] = back

            def replies() -> None:
                while not self.stopped:
                    try:
                        send_from(self.sock, back.recv(65535), peer, dst)
                    except ConnectionRefusedError:
                        continue  # as docker-proxy: the backend's ICMP error is ignored, never relayed
                    except OSError:
                        return

            threading.Thread(target=replies, daemon=True).start()
        try:
            back.send(data)
        except OSError:
            pass

    def close(self) -> None:
        super().close()
        for s in self.udp_peers.values():
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes its reply thread
            except OSError:
                pass
            s.close()


def classify(err: OSError) -> str:
    if err.errno == errno.ECONNREFUSED:
        return REFUSED
    if err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return UNREACHABLE
    if err.errno in (errno.ETIMEDOUT, errno.EAGAIN) or isinstance(err, socket.timeout):
        return TIMEOUT
    return ERROR


def probe_stream(proto: str, dst: str, port: int, src: str | None, sport: int, timeout: float) -> dict:
    fam = family_of(dst)
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(fam, kind)
    s.settimeout(timeout)
    out: dict = {}
    try:
        if not (src or sport):
            # bind the port now (routing still picks the address at connect): a failed probe knows its
            # source port too, so its packets can be found in a kernel trace
            s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", 0))
            out["local_port"] = s.getsockname()[1]
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # IP_TRANSPARENT: allow a source that is not ours (spoofing, for martian-source tests);
            # IP_FREEBIND is not enough, routing only skips its source check for transparent sockets
            s.setsockopt(socket.SOL_IP if fam == socket.AF_INET else socket.SOL_IPV6,
                         19 if fam == socket.AF_INET else 75, 1)
            s.bind((src or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), sport))
        try:
            s.connect((dst, port))
            out["local"], out["local_port"] = s.getsockname()[:2]
            if proto == "tcp":
                # The handshake is done, so a server holds the connection and will answer: wait longer
                # than the connect timeout, so that a loaded machine cannot turn "connected" into "timeout".
                s.settimeout(max(2 * timeout, ANSWER_WAIT))
            if proto == "udp":
                s.send(b"probe\n")
                data = s.recv(2048)
            else:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(2048)
                    if not chunk:
                        break
                    data += chunk
        except OSError as e:
            out["outcome"] = classify(e)
            out["detail"] = errno.errorcode.get(e.errno, "") if e.errno else type(e).__name__
            return out
        if not data.strip():
            out["outcome"] = CLOSED
            out["detail"] = "connection closed without an answer"
            return out
        answer = json.loads(data.decode().splitlines()[0])
        out.update(outcome=CONNECTED, seen=answer["seen"], seen_port=answer["seen_port"],
                   server_local=answer["local"], server_local_port=answer["local_port"], by=answer["by"])
        return out
    finally:
        s.close()


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def probe_icmp(dst: str, src: str | None, timeout: float) -> dict:
    v6 = ":" in dst
    ident, seq = random.randrange(1, 0xFFFF), 1
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        echo, reply, unreach = 128, 129, {1}
        head = struct.pack("!BBHHH", echo, 0, 0, ident, seq)  # the kernel computes the v6 checksum
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        echo, reply, unreach = 8, 0, {3}
        body = struct.pack("!BBHHH", echo, 0, 0, ident, seq) + b"natsim-lab"
        head = struct.pack("!BBHHH", echo, 0, checksum(body), ident, seq)
    packet = head + b"natsim-lab"
    try:
        if src:
            s.bind((src, 0))
        try:
            s.sendto(packet, (dst, 0))
        except OSError as e:
            return {"outcome": classify(e), "detail": errno.errorcode.get(e.errno or 0, str(e))}
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([s], [], [], left)
            if not ready:
                break
            data, peer = s.recvfrom(4096)
            icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
            if len(icmp) < 8:
                continue
            typ, code = icmp[0], icmp[1]
            if typ == reply and struct.unpack("!H", icmp[4:6])[0] == ident:
                return {"outcome": CONNECTED, "seen": peer[0], "detail": "echo reply"}
            if typ in unreach:
                inner = icmp[8:]
                inner_icmp = inner[40:] if v6 else inner[(inner[0] & 0x0F) * 4:] if inner else b""
                if len(inner_icmp) >= 6 and struct.unpack("!H", inner_icmp[4:6])[0] == ident:
                    return {"outcome": UNREACHABLE, "seen": peer[0], "detail": f"icmp type {typ} code {code}"}
        return {"outcome": TIMEOUT, "detail": "no echo reply"}
    finally:
        s.close()


class Agent:
    def __init__(self, name: str):
        self.name = name
        self.servers: dict[int, Listener] = {}
        self.spawned: dict[int, tuple] = {}  # pid -> (Popen, reader thread, lines read so far)
        self.next_id = 1

    def op_ping(self, req: dict) -> dict:
        return {"pid": os.getpid()}

    def op_run(self, req: dict) -> dict:
        p = subprocess.run(req["argv"], input=req.get("input"), capture_output=True, text=True,
                           timeout=req.get("timeout", 20))
        return {"rc": p.returncode, "out": p.stdout, "err": p.stderr}

    def op_sysctl(self, req: dict) -> dict:
        for key, value in req["values"]:
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(str(value))
        return {}

    def op_read(self, req: dict) -> dict:
        with open(req["path"]) as f:
            return {"text": f.read()}

    def remember(self, server: Listener) -> dict:
        sid, self.next_id = self.next_id, self.next_id + 1
        self.servers[sid] = server
        return {"sid": sid}

    def op_listen(self, req: dict) -> dict:
        return self.remember(Listener(req["proto"], req["addr"], req["port"], req.get("by", self.name)))

    def op_proxy(self, req: dict) -> dict:
        return self.remember(Proxy(req["proto"], req["addr"], req["port"], req["to_addr"], req["to_port"],
                                   req.get("by", "docker-proxy")))

    def op_close(self, req: dict) -> dict:
        server = self.servers.pop(req["sid"], None)
        if server:
            server.close()
        return {}

    def op_probe(self, req: dict) -> dict:
        started = time.perf_counter()
        if req["proto"] == "icmp":
            out = probe_icmp(req["dst"], req.get("src"), req.get("timeout", 0.5))
        else:
            out = probe_stream(req["proto"], req["dst"], req["port"], req.get("src"), req.get("sport", 0),
                               req.get("timeout", 0.5))
        out["ms"] = (time.perf_counter() - started) * 1000
        return out

    def op_probes(self, req: dict) -> dict:
        """Several probes at once, each in its own thread: a batch costs its slowest probe."""
        results: list[dict] = [{}] * len(req["probes"])

        def one(i: int, probe: dict) -> None:
            try:
                results[i] = self.op_probe(probe)
            except Exception as e:
                results[i] = {"outcome": ERROR, "detail": f"{type(e).__name__}: {e}"}

        threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(req["probes"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {"results": results}

    def op_spawn(self, req: dict) -> dict:
        """Start a background program; its output is read as it comes (a full pipe would stall it:
        xtables-monitor then loses its netlink events and exits with ENOBUFS)."""
        argv = req["argv"]
        if req.get("line_buffered", True):
            argv = ["stdbuf", "-oL", "-eL", *argv]  # so nothing sits in stdio buffers when it is stopped
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(p.stdout.readline, "")), daemon=True)
        reader.start()
        self.spawned[p.pid] = (p, reader, lines)
        return {"handle": p.pid}

    def op_peek(self, req: dict) -> dict:
        """Wait (up to ``wait`` s) until a spawned program has printed ``needle`` (or one of ``needles``)
        in its last lines; say whether it did."""
        _, _, lines = self.spawned[req["handle"]]
        needles = req.get("needles") or [req["needle"]]  # any of them
        deadline = time.monotonic() + req.get("wait", 0.3)
        start = max(0, len(lines) - 500)
        while True:
            end = len(lines)  # each line is looked at once
            if any(n in line for line in lines[start:end] for n in needles):
                return {"seen": True}
            start = end
            if time.monotonic() >= deadline:
                return {"seen": False}
            time.sleep(0.005)

    def op_collect(self, req: dict) -> dict:
        p, reader, lines = self.spawned.pop(req["handle"])
        time.sleep(req.get("grace", 0.0))
        early = p.poll()  # exited before being stopped: xtables-monitor does so when it loses events
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        reader.join(2)
        return {"out": "".join(lines), "exited": early}

    def shutdown(self) -> None:
        for server in self.servers.values():
            server.close()
        for p, _, _ in self.spawned.values():
            p.kill()

    def serve(self, rx, tx) -> None:
        for line in rx:
            req = json.loads(line)
            op = req.get("op")
            if op == "exit":
                break
            try:
                res = {"ok": True, **getattr(self, f"op_{op}")(req)}
            except Exception as e:  # reported to the test, which raises it there
                res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            tx.write(json.dumps(res) + "\n")
            tx.flush()
        self.shutdown()


def die_with_parent() -> None:
    """Ask the kernel to kill us when our parent exits (no orphan keeps a namespace alive)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def log_thread_errors(name: str) -> None:
    """A server thread that dies says so in one line naming the namespace (tests read stderr on failure)."""

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, OSError):
            return  # a peer or the test closed a socket under a server thread: normal at teardown
        sys.stderr.write(f"lab agent {name}: thread {args.thread.name if args.thread else '?'} died: "
                         f"{args.exc_type.__name__}: {args.exc_value}\n")

    threading.excepthook = hook


def serve_in(name: str, rx, tx) -> None:
    log_thread_errors(name)
    if name != "-":
        join_netns(name)
    agent = Agent(name)
    tx.write(json.dumps({"ok": True, "ready": name, "pid": os.getpid()}) + "\n")
    tx.flush()
    agent.serve(rx, tx)


def zygote(fd: int) -> None:
    """Fork one agent per request: a fork costs ~1 ms where a new interpreter costs ~50 ms.

    Each request is a namespace name with one end of a socketpair attached (SCM_RIGHTS); the
    forked child joins the namespace and serves the test process on that socket.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    ctl = socket.socket(fileno=fd)
    while True:
        msg, fds, _, _ = socket.recv_fds(ctl, 1024, 1)
        if not msg:
            return
        pid = os.fork()
        if pid == 0:
            ctl.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess needs its exit statuses
            die_with_parent()
            sock = socket.socket(fileno=fds[0])
            code = 0
            try:
                serve_in(msg.decode(), sock.makefile("r"), sock.makefile("w"))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(fds[0])


def main() -> None:
    die_with_parent()
    if sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]))
    else:
        serve_in(sys.argv[1], sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
