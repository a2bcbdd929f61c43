"""Packet lab for the tracer's kernel proof (tests/trace/packet_lab.ts).

Runs inside the namespace that holds the policy ("host", B). It opens, by
setns(2), a packet socket on the link of the namespace in front ("outside",
A) and on the link of the namespace behind ("inside", C), so that it can
send real frames from A and see what reaches A or C; raw sockets in B see
what B delivers to itself, and a raw socket in B sends packets B originates.

Requests arrive as JSON lines on stdin, one answer per line on stdout:

  {"op": "probe", "packet": {...}, "save": ["iptables-nft-save", "-c"], "wait_ms": 5}
    builds the packet with scapy, flushes conntrack, reads the counters
    (the save command) before and after sending it, and reports where it
    arrived: {"before": "...", "after": "...", "arrived": "host" | "outside" |
    "inside" | null, "header": {...}, "length": n}. "Before" is the last
    probe's "after" unless "fresh" is true or a command ran since.
  {"op": "recheck", "token": "...", "save": [...]}: looks again for the last
    packet and reads the counters again (the kernel was slow).
  {"op": "run", "argv": [...], "stdin": "..."}: runs a command in B.

Packets carry a token in their payload, so that what is seen is known to be
the packet sent (and not noise).
"""

import ctypes
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SO_MARK = 36
PACKET_OUTGOING = 4

libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns " + path)
    finally:
        os.close(fd)


def packet_socket_in(netns, ifname):
    """A packet socket bound to ifname in another namespace."""
    home = "/proc/self/ns/net"
    home_fd = os.open(home, os.O_RDONLY)
    try:
        setns("/run/netns/" + netns)
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((ifname, 0))
        s.setblocking(False)
        return s
    finally:
        if libc.setns(home_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(home_fd)


def drain(s):
    while True:
        try:
            s.recvfrom(65535)
        except BlockingIOError:
            return


def build(p):
    """The packet as bytes (IP header on), from the lab's JSON description."""
    v6 = p["family"] == 6
    ip = IPv6(src=p["src"], dst=p["dst"], hlim=p.get("ttl", 64), tc=p.get("tos", 0)) if v6 else IP(
        src=p["src"], dst=p["dst"], ttl=p.get("ttl", 64), tos=p.get("tos", 0), id=p.get("id", 1)
    )
    proto = p["proto"]
    payload = Raw(load=p["token"].encode())
    if proto == "tcp":
        l4 = TCP(sport=p["sport"], dport=p["dport"], flags=p.get("flags", "S"), seq=1000, window=1024)
    elif proto == "udp":
        l4 = UDP(sport=p["sport"], dport=p["dport"])
    elif v6:
        cls = ICMPv6EchoRequest if p.get("icmp_type", 128) == 128 else ICMPv6EchoReply
        l4 = cls(id=p.get("icmp_id", 1), seq=1)
    else:
        l4 = ICMP(type=p.get("icmp_type", 8), code=p.get("icmp_code", 0), id=p.get("icmp_id", 1), seq=1)
    return bytes(ip / l4 / payload)


class Lab:
    def __init__(self, outside, outside_if, inside, inside_if, host_if):
        self.outside = packet_socket_in(outside, outside_if)
        self.inside = packet_socket_in(inside, inside_if)
        self.host_if = host_if
        # What B delivers to itself: one raw socket per protocol and family.
        self.delivered = []
        for fam, protos in ((socket.AF_INET, (6, 17, 1)), (socket.AF_INET6, (6, 17, 58))):
            for proto in protos:
                s = socket.socket(fam, socket.SOCK_RAW, proto)
                s.setblocking(False)
                self.delivered.append(s)
        self.send4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.send6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.all = [self.outside, self.inside] + self.delivered
        # The counters after the last probe, by save command: the next probe's
        # "before" (nothing else moves them; a "run" request forgets them).
        self.last = {}

    def set_mark(self, mark):
        for s in (self.send4, self.send6):
            s.setsockopt(socket.SOL_SOCKET, SO_MARK, mark)

    def probe(self, req):
        p = req["packet"]
        for s in self.all:
            drain(s)
        if req.get("flush", True):
            # Both families; an error (conntrack not in use here) does not matter.
            subprocess.run(["conntrack", "-F"], capture_output=True)
        key = " ".join(req["save"])
        before = None if req.get("fresh") else self.last.get(key)
        if before is None:
            before = run(req["save"])
        raw = build(p)
        token = p["token"].encode()
        if p["via"] == "outside":
            frame = bytes(Ether(src=p["src_mac"], dst=p["dst_mac"], type=0x86DD if p["family"] == 6 else 0x0800)) + raw
            self.outside.send(frame)
        else:
            self.set_mark(p.get("mark", 0))
            try:
                if p["family"] == 6:
                    self.send6.sendto(raw, (p["dst"], 0, 0, 0))
                else:
                    self.send4.sendto(raw, (p["dst"], 0))
            except PermissionError:
                pass  # netfilter dropped (or rejected) it in OUTPUT or POSTROUTING
        arrived, header = self.look(token, req.get("wait_ms", 20) / 1000)
        after = run(req["save"])
        self.last = {key: after}
        return {
            "before": before,
            "after": after,
            "arrived": arrived,
            "header": header,
            "length": len(raw),
        }

    def look(self, token, wait):
        """Where the packet with the token arrived, waiting up to `wait` seconds."""
        arrived = None
        header = None
        deadline = time.monotonic() + wait
        while arrived is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(self.all, [], [], left)
            for s in ready:
                while True:
                    try:
                        data, addr = s.recvfrom(65535)
                    except BlockingIOError:
                        break
                    if token not in data:
                        continue
                    if s is self.outside or s is self.inside:
                        if addr[2] == PACKET_OUTGOING:
                            continue
                        arrived = "outside" if s is self.outside else "inside"
                        header = parse_ip(data[14:])
                    else:
                        arrived = "host"
                        if s.family == socket.AF_INET:
                            header = parse_ip(data)
                        else:
                            header = {"source": addr[0]}
        return arrived, header

    def recheck(self, req):
        arrived, header = self.look(req["token"].encode(), 0.05)
        after = run(req["save"])
        self.last = {" ".join(req["save"]): after}
        return {"after": after, "arrived": arrived, "header": header}


def parse_ip(data):
    """Addresses and ports of an IP packet (for comparison with the trace's last packet)."""
    version = data[0] >> 4
    if version == 4:
        ihl = (data[0] & 15) * 4
        proto = data[9]
        out = {
            "source": socket.inet_ntop(socket.AF_INET, data[12:16]),
            "destination": socket.inet_ntop(socket.AF_INET, data[16:20]),
            "ttl": data[8],
            "dscp": data[1] >> 2,
        }
        l4 = data[ihl:]
    else:
        proto = data[6]
        out = {
            "source": socket.inet_ntop(socket.AF_INET6, data[8:24]),
            "destination": socket.inet_ntop(socket.AF_INET6, data[24:40]),
            "ttl": data[7],
            "dscp": (((data[0] & 15) << 4) | (data[1] >> 4)) >> 2,
        }
        l4 = data[40:]
    if proto in (6, 17) and len(l4) >= 4:
        out["sourcePort"], out["destPort"] = struct.unpack("!HH", l4[:4])
    return out


def run(argv, stdin=None):
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r.stdout


def main():
    outside, outside_if, inside, inside_if, host_if = sys.argv[1:6]
    lab = Lab(outside, outside_if, inside, inside_if, host_if)
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "probe":
                out = lab.probe(req)
            elif req["op"] == "recheck":
                out = lab.recheck(req)
            elif req["op"] == "run":
                lab.last = {}
                r = subprocess.run(req["argv"], input=req.get("stdin"), capture_output=True, text=True)
                out = {"code": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
            else:
                out = {"error": "unknown op " + req["op"]}
        except Exception as e:  # reported to the test, which fails with it
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
