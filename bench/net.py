#!/usr/bin/env python3
"""bench/net.py: the egress data plane against a hand-made veth + bridge + NAT namespace.

Everything happens in network namespaces this script makes and removes: HOST (where firkin's
host side runs: its bridge, NAT and rules), INET (the "internet": an iperf3 server and an echo
server on 203.0.113.1 and 2001:db8::1, joined to HOST by a veth), and PEER (a namespace made by
hand the way a container network plugin does it: a veth to a bridge of its own in HOST, an
address, a default route, masquerade). No packet leaves the machine and the machine's own
network namespace is never touched.

Measured in one run:
  pooled       fk_warm_pool_create (bench/netpool) from a pool of ready `none' sandboxes against
               one of ready `egress' ones (a lease sets its rules)
  create       `fk create --network egress` against `--network none` (cold creates, the CLI
               process included in both), and the peer's hand-made namespace setup (one
               `ip -batch` and one `nft -f`, as a plugin would do it, plus `ip netns del`)
  throughput   iperf3 to INET from a sandbox, from the PEER namespace, and from HOST itself
               (its own veth path: the goal's baseline), then again from the sandbox with 1,000
               deny rules that match nothing
  connect      TCP connect latency to INET (netprobe) from the sandbox, PEER and HOST
  port         host -> sandbox one-byte round trips through `fk port` against the same echo
               server reached on the host's loopback
Prints n, p50, p95 per figure and the ratios against the goals; --out writes a trace artifact
(`fk bench report FILE` reads it). --only create,pooled,... runs those figures alone;
--baseline FK (another build, its fk-resolver beside it) adds that build's cold creates,
alternating with the first's: a before/after under the same load.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INET4, INET6 = "203.0.113.1", "2001:db8::1"
HOST4, HOST6 = "203.0.113.2", "2001:db8::2"
PEER_NET4, PEER_GW4, PEER_ADDR4 = "10.99.0.0/24", "10.99.0.1", "10.99.0.2"
ECHO_PORT, IPERF_PORT = 7001, 5201


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def run(cmd, ns=None, check=True, capture=True, timeout=120, env=None):
    if ns:
        cmd = ["nsenter", "--net=/run/netns/" + ns] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, text=True,
                       timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                                (r.stderr or "").strip()[-800:]))
    return r


class Bench:
    def __init__(self, args):
        self.args = args
        self.tag = "fkbn%d" % os.getpid()
        self.host, self.inet, self.peer = self.tag + "h", self.tag + "i", self.tag + "p"
        self.work = tempfile.mkdtemp(prefix="fk-bench-net.")
        self.daemons = []
        self.sandboxes = []
        self.samples = []
        self.fk = args.fk
        self.env = dict(os.environ)
        # The resolver of an uninstalled build, beside the fk given.
        self.env = self.with_resolver(self.env, args.fk)
        # A second build whose cold creates alternate with the first's (a before/after).
        self.baseline = args.baseline
        self.baseline_env = self.with_resolver(dict(os.environ), args.baseline) \
            if args.baseline else None

    @staticmethod
    def with_resolver(env, fk):
        resolver = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(fk))),
                                "lib/net/fk-resolver")
        if os.access(resolver, os.X_OK):
            env["FIRKIN_RESOLVER"] = resolver
        return env

    # ---- setup and teardown ----

    def setup(self):
        for ns in (self.host, self.inet, self.peer):
            run(["ip", "netns", "add", ns])
        # HOST <-> INET
        run(["ip", "link", "add", "fkbn-h", "netns", self.host, "type", "veth",
             "peer", "name", "fkbn-i", "netns", self.inet])
        batch_i = "\n".join([
            "link set lo up", "link set fkbn-i up",
            "addr add %s/24 dev fkbn-i" % INET4, "addr add %s/64 dev fkbn-i nodad" % INET6,
        ]) + "\n"
        subprocess.run(["ip", "-n", self.inet, "-batch", "-"], input=batch_i, text=True,
                       check=True)
        batch_h = "\n".join([
            "link set lo up", "link set fkbn-h up",
            "addr add %s/24 dev fkbn-h" % HOST4, "addr add %s/64 dev fkbn-h nodad" % HOST6,
            "route add default via %s" % INET4, "route add default via %s" % INET6,
        ]) + "\n"
        subprocess.run(["ip", "-n", self.host, "-batch", "-"], input=batch_h, text=True,
                       check=True)
        # The internet's servers.
        probe = self.args.netprobe
        for argv in (["iperf3", "-s", "-p", str(IPERF_PORT)], [probe, "serve", str(ECHO_PORT)]):
            p = subprocess.Popen(["nsenter", "--net=/run/netns/" + self.inet] + argv,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.daemons.append(p)
        # The layer a sandbox needs beside busybox: iperf3 with its libraries, netprobe.
        self.layer = os.path.join(self.work, "tools")
        self.make_tools_layer(self.layer)
        self.busybox = os.path.join(self.work, "busybox")
        subprocess.run([os.path.join(TOP, "scripts/busybox-rootfs.sh"), self.busybox],
                       check=True)
        time.sleep(0.3)

    def make_tools_layer(self, d):
        os.makedirs(os.path.join(d, "usr/bin"))
        shutil.copy2(shutil.which("iperf3"), os.path.join(d, "usr/bin/iperf3"))
        shutil.copy2(self.args.netprobe, os.path.join(d, "usr/bin/netprobe"))
        out = subprocess.run(["ldd", shutil.which("iperf3")], stdout=subprocess.PIPE,
                             text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            path = parts[2] if len(parts) >= 3 and parts[1] == "=>" else parts[0]
            if path.startswith("/"):
                dest = os.path.join(d, path.lstrip("/"))
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copy2(os.path.realpath(path), dest)

    def teardown(self):
        for sb, fk in list(self.sandboxes):
            self.fk_cmd(["rm", "-f", sb], check=False, fk=fk)
        for p in self.daemons:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=5)
            except Exception:
                p.kill()
        for ns in (self.peer, self.host, self.inet):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.work, ignore_errors=True)

    # ---- firkin ----

    def fk_cmd(self, argv, check=True, timeout=120, fk=None):
        fk = fk or self.fk
        env = self.env if fk == self.fk else self.baseline_env
        return run([fk] + argv, ns=self.host, check=check, timeout=timeout, env=env)

    def fk_create(self, network, extra=(), fk=None):
        t0 = time.perf_counter()
        r = self.fk_cmd(["create", "--rootfs", self.busybox, "--rootfs", self.layer,
                         "--network", network] + list(extra), fk=fk)
        ms = (time.perf_counter() - t0) * 1e3
        sb = r.stdout.strip().split()[-1]
        self.sandboxes.append((sb, fk))
        return sb, ms

    def fk_rm(self, sb, fk=None):
        self.fk_cmd(["rm", "-f", sb], fk=fk)
        self.sandboxes.remove((sb, fk))

    def fk_exec(self, sb, argv, timeout=120):
        return self.fk_cmd(["exec", sb, "--"] + argv, timeout=timeout)

    # ---- the peer: a namespace made by hand ----

    def peer_setup(self, name):
        """What a container network plugin does for one container, in two processes."""
        batch = "\n".join([
            "netns add %s" % name,
            "link add fkbnp0 type bridge", "link set fkbnp0 up",
            "addr add %s/24 dev fkbnp0" % PEER_GW4,
            "link add fkbnpv type veth peer name eth0 netns %s" % name,
            "link set fkbnpv master fkbnp0", "link set fkbnpv up",
        ]) + "\n"
        t0 = time.perf_counter()
        subprocess.run(["nsenter", "--net=/run/netns/" + self.host, "ip", "-batch", "-"],
                       input=batch, text=True, check=True)
        inner = "\n".join([
            "link set lo up", "link set eth0 up", "addr add %s/24 dev eth0" % PEER_ADDR4,
            "route add default via %s" % PEER_GW4,
        ]) + "\n"
        subprocess.run(["ip", "-n", name, "-batch", "-"], input=inner, text=True, check=True)
        nft = ("table ip fkbnpeer {\n chain post { type nat hook postrouting priority 100;"
               " ip saddr %s oifname != \"fkbnp0\" masquerade; }\n}\n" % PEER_NET4)
        subprocess.run(["nsenter", "--net=/run/netns/" + self.host, "nft", "-f", "-"],
                       input=nft, text=True, check=True)
        return (time.perf_counter() - t0) * 1e3

    def peer_teardown(self, name):
        t0 = time.perf_counter()
        subprocess.run(["ip", "netns", "del", name], check=True)
        run(["ip", "link", "del", "fkbnp0"], ns=self.host)
        run(["nft", "delete", "table", "ip", "fkbnpeer"], ns=self.host)
        return (time.perf_counter() - t0) * 1e3

    # ---- figures ----

    def add(self, metric, unit, values, **tags):
        for v in values:
            self.samples.append({"metric": metric, "kind": "LifecycleLatency"
                                 if unit in ("Milliseconds", "Microseconds") else
                                 "WorkloadResource", "unit": unit, "value": v,
                                 "tags": dict(tags)})

    def bench_create(self):
        n = self.args.rounds
        egress, none, peer, base_egress, base_none = [], [], [], [], []
        for i in range(n):
            for fk, nv, ev in ((None, none, egress),) + (
                    ((self.baseline, base_none, base_egress),) if self.baseline else ()):
                sb, ms = self.fk_create("none", fk=fk)
                nv.append(ms)
                self.fk_rm(sb, fk=fk)
                sb, ms = self.fk_create("egress", fk=fk)
                ev.append(ms)
                self.fk_rm(sb, fk=fk)
            name = self.tag + "c"
            peer.append(self.peer_setup(name))
            self.peer_teardown(name)
        self.add("net.create_cold.egress_ms", "Milliseconds", egress, measurement_boundary="fk_create_cli")
        self.add("net.create_cold.none_ms", "Milliseconds", none, measurement_boundary="fk_create_cli")
        self.add("net.create_cold.peer_netns_setup_ms", "Milliseconds", peer,
                 measurement_boundary="ip_batch_plus_nft")
        return {"egress": egress, "none": none, "peer": peer, "base_egress": base_egress,
                "base_none": base_none}

    def bench_pooled(self):
        """Pooled creates (bench/netpool, in process): none against egress, n each."""
        n = self.args.pooled
        if n <= 0 or not os.access(self.args.netpool, os.X_OK):
            return None
        env = dict(self.env)
        agent = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(self.fk))),
                             "agent/fk-agent")
        if not env.get("FIRKIN_AGENT") and os.access(agent, os.X_OK):
            env["FIRKIN_AGENT"] = agent
        r = run([self.args.netpool, str(n), self.busybox, self.layer], ns=self.host, env=env,
                timeout=600)
        out = {"none": [], "egress": []}
        for ln in r.stdout.splitlines():
            k, v = ln.split()
            out[k].append(float(v))
        self.add("net.create_pooled.none_ms", "Milliseconds", out["none"],
                 measurement_boundary="fk_warm_pool_create")
        self.add("net.create_pooled.egress_ms", "Milliseconds", out["egress"],
                 measurement_boundary="fk_warm_pool_create")
        return out

    def iperf(self, argv_prefix, target, ns=None):
        cmd = argv_prefix + ["iperf3", "-c", target, "-p", str(IPERF_PORT), "-t",
                             str(self.args.seconds), "-J"]
        r = run(cmd, ns=ns, timeout=self.args.seconds * 4 + 30)
        j = json.loads(r.stdout)
        return j["end"]["sum_received"]["bits_per_second"] / 8.0

    def bench_throughput(self):
        reps = self.args.reps
        sb, _ = self.fk_create("egress")
        fkx = [self.fk, "exec", sb, "--"]
        host, sandbox, peer, rules = [], [], [], []
        name = self.tag + "t"
        self.peer_setup(name)
        try:
            for _ in range(reps):
                host.append(self.iperf([], INET4, ns=self.host))
                sandbox.append(self.iperf(fkx, INET4, ns=self.host))
                peer.append(self.iperf([], INET4, ns=name))
            # Rules that match nothing the benchmark sends: blocks of 198.18.0.0/15 and up.
            deny = []
            for i in range(self.args.rules):
                deny += ["--deny-out", "198.%d.%d.0/24" % (18 + i // 256, i % 256)]
            self.fk_cmd(["network", sb] + deny)
            for _ in range(reps):
                rules.append(self.iperf(fkx, INET4, ns=self.host))
            sb6 = []
            for _ in range(reps):
                sb6.append(self.iperf(fkx, INET6, ns=self.host))
        finally:
            self.peer_teardown(name)
            self.fk_rm(sb)
        mib = lambda v: [x / (1 << 20) for x in v]
        self.add("net.throughput.host_veth_mib_s", "MebibytesPerSecond", mib(host))
        self.add("net.throughput.sandbox_mib_s", "MebibytesPerSecond", mib(sandbox))
        self.add("net.throughput.sandbox_ipv6_mib_s", "MebibytesPerSecond", mib(sb6))
        self.add("net.throughput.peer_mib_s", "MebibytesPerSecond", mib(peer))
        self.add("net.throughput.sandbox_1000_rules_mib_s", "MebibytesPerSecond", mib(rules),
                 rules=str(self.args.rules))
        return {"host": host, "sandbox": sandbox, "peer": peer, "rules": rules, "ipv6": sb6}

    def probe(self, prefix, mode, addr, port, n, ns):
        r = run(prefix + [mode, addr, str(port), str(n)], ns=ns, timeout=300)
        return [float(x) for x in r.stdout.split()]

    def bench_connect(self):
        n = self.args.connects
        sb, _ = self.fk_create("egress")
        name = self.tag + "l"
        self.peer_setup(name)
        try:
            sandbox = self.probe([self.fk, "exec", sb, "--", "netprobe"], "connect", INET4,
                                 ECHO_PORT, n, self.host)
            host = self.probe([self.args.netprobe], "connect", INET4, ECHO_PORT, n, self.host)
            peer = self.probe([self.args.netprobe], "connect", INET4, ECHO_PORT, n, name)
        finally:
            self.peer_teardown(name)
            self.fk_rm(sb)
        self.add("net.connect.sandbox_us", "Microseconds", sandbox)
        self.add("net.connect.host_us", "Microseconds", host)
        self.add("net.connect.peer_us", "Microseconds", peer)
        return {"sandbox": sandbox, "host": host, "peer": peer}

    def bench_port(self):
        n = self.args.connects
        res = {}
        for network in ("none", "egress"):
            sb, _ = self.fk_create(network)
            server = subprocess.Popen(["nsenter", "--net=/run/netns/" + self.host, self.fk,
                                       "exec", sb, "--", "netprobe", "serve", str(ECHO_PORT)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            fwd = subprocess.Popen(["nsenter", "--net=/run/netns/" + self.host, self.fk, "port",
                                    sb, str(ECHO_PORT)], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
            try:
                line = fwd.stdout.readline()
                # fk: forwarding 127.0.0.1:PORT -> ID:PORT
                addr = line.split("forwarding", 1)[1].split("->")[0].strip()
                host_addr, host_port = addr.rsplit(":", 1)
                time.sleep(0.2)
                res[network] = self.probe([self.args.netprobe], "rtt", host_addr, host_port, n,
                                          self.host)
            finally:
                fwd.terminate()
                fwd.wait()
                server.terminate()
                server.wait()
                self.fk_rm(sb)
        # The floor: the same echo server on the host's loopback.
        local = subprocess.Popen(["nsenter", "--net=/run/netns/" + self.host, self.args.netprobe,
                                  "serve", str(ECHO_PORT + 1)])
        try:
            time.sleep(0.2)
            res["loopback"] = self.probe([self.args.netprobe], "rtt", "127.0.0.1", ECHO_PORT + 1,
                                         n, self.host)
        finally:
            local.terminate()
            local.wait()
        self.add("net.port_rtt.fk_port_none_us", "Microseconds", res["none"])
        self.add("net.port_rtt.fk_port_egress_us", "Microseconds", res["egress"])
        self.add("net.port_rtt.loopback_us", "Microseconds", res["loopback"])
        return res


def line(name, values, unit):
    return "  %-44s n=%-4d p50 %10.2f  p95 %10.2f %s" % (name, len(values), pct(values, 50),
                                                      pct(values, 95), unit)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fk", default=os.path.join(TOP, "build/src/cli/fk"))
    ap.add_argument("--netprobe", default=os.path.join(TOP, "build/bench/netprobe"))
    ap.add_argument("--netpool", default=os.path.join(TOP, "build/bench/netpool"))
    ap.add_argument("--rounds", type=int, default=30, help="create rounds")
    ap.add_argument("--pooled", type=int, default=20, help="pooled creates per plane (0: none)")
    ap.add_argument("--reps", type=int, default=3, help="iperf3 runs per path")
    ap.add_argument("--seconds", type=int, default=5, help="seconds per iperf3 run")
    ap.add_argument("--connects", type=int, default=1000, help="connects and round trips")
    ap.add_argument("--rules", type=int, default=1000, help="rules in the rules run")
    ap.add_argument("--out", help="write the trace artifact here")
    ap.add_argument("--baseline", help="another fk build (its fk-resolver beside it, as the "
                    "first's) whose cold creates alternate with the first's: a before/after")
    ap.add_argument("--only", help="these figures alone, comma-separated: create, pooled, "
                    "throughput, connect, port")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/net.py: needs root (network namespaces)")
    b = Bench(args)
    try:
        b.setup()
        want = lambda k: not args.only or k in args.only.split(",")
        c = b.bench_create() if want("create") else None
        pooled = b.bench_pooled() if want("pooled") else None
        t = b.bench_throughput() if want("throughput") else None
        l = b.bench_connect() if want("connect") else None
        p = b.bench_port() if want("port") else None
    finally:
        b.teardown()
    print("bench net: %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    if c:
        print("create (cold, the fk process included):")
        print(line("fk create --network none", c["none"], "ms"))
        print(line("fk create --network egress", c["egress"], "ms"))
        print(line("peer: hand-made netns + veth + NAT", c["peer"], "ms"))
        added = pct(c["egress"], 50) - pct(c["none"], 50)
        # Each round's egress create follows its none create at once: their difference cancels
        # what the machine's load did to that round, which the two medians' difference does not.
        paired = [e - n for e, n in zip(c["egress"], c["none"])]
        print("  egress adds %.2f ms p50 to a cold create (goal < 3); paired, the median of the "
              "rounds' differences: %.2f ms; the peer's setup alone %.2f ms"
              % (added, pct(paired, 50), pct(c["peer"], 50)))
        if args.baseline:
            print(line("baseline: fk create --network none", c["base_none"], "ms"))
            print(line("baseline: fk create --network egress", c["base_egress"], "ms"))
            bpaired = [e - n for e, n in zip(c["base_egress"], c["base_none"])]
            print("  baseline: egress adds %.2f ms p50 to a cold create; paired %.2f ms"
                  % (pct(c["base_egress"], 50) - pct(c["base_none"], 50), pct(bpaired, 50)))
    if pooled:
        print("create (pooled: fk_warm_pool_create from a pool of ready sandboxes, in process):")
        print(line("pooled, network none", pooled["none"], "ms"))
        print(line("pooled, network egress (its rules set)", pooled["egress"], "ms"))
        print("  egress adds %.2f ms p50 to a pooled create (goal < 1)"
              % (pct(pooled["egress"], 50) - pct(pooled["none"], 50)))
    if t:
        print_throughput(args, t)
    if l:
        print("TCP connect to the fake internet:")
        for k in ("sandbox", "peer", "host"):
            print(line(k, l[k], "us"))
    if p:
        print("host -> sandbox one-byte round trip:")
        print(line("fk port (network none)", p["none"], "us"))
        print(line("fk port (network egress)", p["egress"], "us"))
        print(line("loopback (floor)", p["loopback"], "us"))
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"kind": "live_sandbox_network", "samples": b.samples, "traces": []}, f)
        os.rename(tmp, args.out)


def print_throughput(args, t):
    mib = lambda v: [x / (1 << 20) for x in v]
    print("throughput to the fake internet (iperf3, %d x %d s):" % (args.reps, args.seconds))
    for k, name in (("host", "host namespace's own veth"), ("sandbox", "sandbox (egress)"),
                    ("ipv6", "sandbox (egress, IPv6)"), ("peer", "peer namespace"),
                    ("rules", "sandbox with %d rules" % args.rules)):
        print(line(name, mib(t[k]), "MiB/s"))
    base = statistics.median(t["host"])
    print("  sandbox / host %.1f%% (goal >= 90%%); sandbox / peer %.1f%%; %d rules cost %.1f%% "
          "(goal < 5%%)" % (100 * statistics.median(t["sandbox"]) / base,
                           100 * statistics.median(t["sandbox"]) / statistics.median(t["peer"]),
                           args.rules,
                           100 * (1 - statistics.median(t["rules"]) /
                                  statistics.median(t["sandbox"]))))


if __name__ == "__main__":
    main()
