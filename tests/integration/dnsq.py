#!/usr/bin/python3
"""A small DNS client for net_resolver.sh (standard library only).

  dnsq.py SERVER NAME TYPE [tcp]   prints "RCODE ADDR/TTL ..." (RCODE as a number); a NAME
                                   with '/' gives the labels themselves ("x.wild/test")
  dnsq.py SERVER pipeline NAME...  asks for each A in one TCP write, prints the answers in order
  dnsq.py SERVER hostile           sends malformed and hostile packets (UDP and TCP)
  dnsq.py SERVER flood N           sends N queries over UDP as fast as it can, reads nothing
"""
import random
import socket
import struct
import sys

TYPES = {"A": 1, "AAAA": 28, "TXT": 16, "CNAME": 5}


def qname(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"


def build(name, qtype, edns=True, qid=None):
    qid = random.randrange(65536) if qid is None else qid
    hdr = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0) if edns else b""
    return qid, hdr + qname(name) + struct.pack(">HH", qtype, 1) + opt


def skip_name(m, p):
    while True:
        c = m[p]
        if c == 0:
            return p + 1
        if c & 0xC0 == 0xC0:
            return p + 2
        p += 1 + c


def parse(m, qid):
    rid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", m[:12])
    if rid != qid:
        raise SystemExit("id mismatch")
    p = 12
    for _ in range(qd):
        p = skip_name(m, p) + 4
    out = []
    for _ in range(an):
        p = skip_name(m, p)
        t, c, ttl, rl = struct.unpack(">HHIH", m[p:p + 10])
        p += 10
        rd = m[p:p + rl]
        p += rl
        if t == 1:
            out.append("%s/%d" % (socket.inet_ntop(socket.AF_INET, rd), ttl))
        elif t == 28:
            out.append("%s/%d" % (socket.inet_ntop(socket.AF_INET6, rd), ttl))
    tc = " TC" if flags & 0x0200 else ""
    return ("%d%s " % (flags & 0xF, tc) + " ".join(out)).strip()


def ask(server, name, qtype, tcp):
    qid, msg = build(name, TYPES[qtype])
    if "/" in name:  # labels as given, a '.' inside one kept: "x.wild/test"
        qid = random.randrange(65536)
        labels = b"".join(bytes([len(l)]) + l.encode() for l in name.split("/")) + b"\0"
        msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack(">HH", TYPES[qtype], 1)
    if tcp:
        s = socket.create_connection((server, 53), timeout=5)
        s.sendall(struct.pack(">H", len(msg)) + msg)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
            d = s.recv(65536)
            if not d:
                raise SystemExit("connection closed")
            buf += d
        return parse(buf[2:], qid)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(msg, (server, 53))
    return parse(s.recv(65536), qid)


def pipeline(server, names):
    """Every question in one TCP write; the answers in order."""
    s = socket.create_connection((server, 53), timeout=5)
    ids, data = [], b""
    for n in names:
        qid, msg = build(n, 1)
        ids.append(qid)
        data += struct.pack(">H", len(msg)) + msg
    s.sendall(data)
    buf, out = b"", []
    for qid in ids:
        while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
            d = s.recv(65536)
            if not d:
                raise SystemExit("connection closed")
            buf += d
        n = struct.unpack(">H", buf[:2])[0]
        out.append(parse(buf[2:2 + n], qid))
        buf = buf[2 + n:]
    return " | ".join(out)


def hostile(server):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hdr = lambda qd, an=0, ns=0, ar=0, flags=0x0100: struct.pack(">HHHHHH", 7, flags, qd, an, ns, ar)
    packets = [
        b"",
        b"\x00",
        b"\xff" * 11,
        hdr(1),                                   # a question that is not there
        hdr(65535) + b"\x00" * 100,               # counts the bytes cannot back
        hdr(1) + b"\xc0\x0c" + b"\x00\x01\x00\x01",  # pointer to itself
        hdr(1) + b"\xc0\x20" + b"\x00\x01\x00\x01" + b"\x00" * 30,  # pointer forward
        hdr(1) + b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3f" + b"d" * 63
        + b"\x00\x00\x01\x00\x01",                # a name of 257 bytes
        hdr(1) + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",  # a label of 64
        hdr(1) + b"\x80abc\x00\x00\x01\x00\x01",  # reserved label type
        hdr(2) + qname("allowed.test") + b"\x00\x01\x00\x01" + qname("x.test") + b"\x00\x01\x00\x01",
        hdr(1, an=1) + qname("allowed.test") + b"\x00\x01\x00\x01" + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04\x01\x02\x03\x04",
        hdr(1, flags=0x8100) + qname("allowed.test") + b"\x00\x01\x00\x01",  # an answer sent to it
        hdr(1, flags=0x2900) + qname("allowed.test") + b"\x00\x01\x00\x01",  # opcode UPDATE
        hdr(1) + qname("allowed.test") + b"\x00\x01\x00\x03",  # class CHAOS
        hdr(1) + qname("a.b") + b"\x00\xff\x00\x01" + b"trailing",
        random.randbytes(512),
        random.randbytes(4000),
    ]
    for _ in range(200):
        packets.append(bytes([random.randrange(256) for _ in range(random.randrange(12, 80))]))
    for p in packets:
        u.sendto(p, (server, 53))
    # TCP: a length promising more than comes, a length of 0, garbage, many connections.
    conns = []
    for payload in [b"\xff\xff" + b"x" * 100, b"\x00\x00", b"\x00\x05abcde", b"\x00", random.randbytes(3000)]:
        s = socket.create_connection((server, 53), timeout=5)
        s.sendall(payload)
        conns.append(s)
    for _ in range(40):
        try:
            conns.append(socket.create_connection((server, 53), timeout=5))
        except OSError:
            pass
    for s in conns:
        s.close()


def flood(server, n):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setblocking(False)
    names = ["allowed.test", "denied.test", "x%d.wild.test"]
    for i in range(n):
        name = names[i % 3]
        if "%d" in name:
            name = name % i
        try:
            u.sendto(build(name, 1)[1], (server, 53))
        except BlockingIOError:
            pass


def main():
    server = sys.argv[1]
    if sys.argv[2] == "hostile":
        hostile(server)
    elif sys.argv[2] == "pipeline":
        print(pipeline(server, sys.argv[3:]))
    elif sys.argv[2] == "flood":
        flood(server, int(sys.argv[3]))
    else:
        print(ask(server, sys.argv[2], sys.argv[3], len(sys.argv) > 4 and sys.argv[4] == "tcp"))


main()
