#!/usr/bin/env python3
"""Start-up set from a registry (issue 10). Not a test.

An image is converted (--image scipy: the debian-scipy image of tools/build-debian-images.sh,
program `python3 -c 'import numpy'`; --image python: one gzip layer of --tar, program
`python3 -c 'import json'`), its start-up set recorded (`imgfs mount --trace record`, then
`chroot MNT PROGRAM`), repacked in trace order, and pushed with its trace to a registry
(docker-registry). With --profile dc|slow the registry runs in a network namespace behind a veth
pair shaped as coldstart-bench does it (tc netem; on a kernel without sch_netem a token bucket for
the rate and a delaying proxy, tools/bench/delay_proxy.cc or .py, for the delay); --profile loopback: 127.0.0.1, no shaping.

Then, ROUNDS times each, from an empty store and a dropped page cache:
  off, replay   `imgfs mount docker://...` (--trace off / replay), then PROGRAM in the mount: time
                from the mount to the program's exit; bytes the program read, bytes fetched and
                range requests (imgfs stats)
  arrival       `imgfs mount --trace replay` and nothing else: time from the start of the replay
                (just before the mount returns) until the replayed start-up set is all in the
                node store (prefetch_done reaches prefetch_total), by the daemon's clock
                (prefetch_us), next to what its bytes take at link speed plus two round trips
                (the issue's goal: within 1.2x)
  floor         PROGRAM in a mount of the same image whose chunks are all local (page cache
                dropped): the program's own time, which no network can remove

  tools/bench/registry_startup.py --imgfs build/imgfs/imgfs [--image scipy|python]
                                  [--profile dc|slow|loopback] [--rounds 3] [--tar ROOTFS.tar]
                                  [--source oci:LAYOUT:TAG]
"""

import argparse
import importlib.machinery
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAMS = {"python": ["/usr/bin/python3", "-c", "import json"],
            "scipy": ["/usr/bin/python3", "-c", "import numpy"]}
BENCH_IMAGES = "/var/cache/imgfs-bench/oci"  # tools/build-debian-images.sh
# The network of coldstart-bench (the same namespace, veth and shaping code).
CSB = importlib.machinery.SourceFileLoader(
    "coldstart_bench", os.path.join(ROOT, "tools", "coldstart-bench")).load_module()
RATES = {"1gbit": 1e9, "200mbit": 200e6}


def wait_arrival(run, mp, store, timeout=300):
    """Seconds until the replayed trace's chunks are all fetched (prefetch_done = total), as the
    daemon timed it (prefetch_us, from the start of the replay, just before the mount returned);
    polled every 50 ms, since every poll is a process that takes CPU from the daemon."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        m = json.loads(run("stats", mp, "--json", "--store", store).stdout).get("metrics", {})
        if m.get("prefetch_total", 0) and m.get("prefetch_done", 0) >= m["prefetch_total"]:
            if m.get("prefetch_us"):
                return m["prefetch_us"] / 1e6, m
            return time.time() - t0, m  # a daemon without prefetch_us: the poller's clock
        time.sleep(0.05)
    raise RuntimeError("the replayed start-up set did not arrive in %d s" % timeout)


def daemon_cpu_seconds(store):
    """User + system CPU seconds of the store's daemon so far (its /stats names its pid)."""
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(os.path.join(store, "imgfs.sock"))
        sock.sendall(b"GET /stats HTTP/1.0\r\n\r\n")
        reply = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
        sock.close()
        pid = json.loads(reply.split(b"\r\n\r\n", 1)[1])["daemon"]["pid"]
        fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, KeyError, IndexError):
        return 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--imgfs", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tar", default="/var/cache/imgfs-test/bookworm-python3.tar")
    p.add_argument("--image", choices=sorted(PROGRAMS), default="python")
    p.add_argument("--profile", choices=sorted(CSB.PROFILES), default="loopback")
    p.add_argument("--source", help="the image to convert instead of --image's (an oci: or "
                   "docker: reference; the program stays --image's)")
    args = p.parse_args()
    program = PROGRAMS[args.image]
    imgfs = os.path.abspath(args.imgfs)
    work = tempfile.mkdtemp(prefix="imgfs-bench-startup-")
    mounts = []

    def run(*a, check=True):
        return subprocess.run([imgfs, *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, check=check)

    def mount(store, image, mp, *extra):
        os.makedirs(mp, exist_ok=True)
        run("mount", image, mp, "--store", store, *extra)
        mounts.append((mp, store))

    def umount(mp, store):
        run("umount", mp, "--store", store)
        mounts.remove((mp, store))

    net = CSB.Network(args.profile)
    servers = None
    try:
        servers = CSB.Servers(net, work + "/servers")
        if args.source:
            source = args.source
        elif args.image == "scipy":
            source = "oci:%s:debian-scipy" % BENCH_IMAGES
        else:
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "mkimage.py"), "tars",
                            "--layout", work + "/layout", "--tag", "img", "--compression",
                            "gzip", args.tar], check=True, stdout=subprocess.DEVNULL)
            source = "oci:%s/layout:img" % work
        a = work + "/store-a"
        run("convert", source, "--tag", "img", "--store", a, "--quiet")
        mp = work + "/mnt-record"
        mount(a, "img", mp, "--trace", "record", "--trace-seconds", "600")
        subprocess.run(["chroot", mp] + program, check=True)
        umount(mp, a)
        run("repack", "img", "--tag", "img-repacked", "--store", a)
        ref = "docker://%s/startup/img:v1" % servers.registry
        run("push", "img-repacked", ref, "--plain-http", "--store", a)
        results = {"off": [], "replay": [], "arrival": [], "floor": []}
        for r in range(args.rounds):
            for mode in ("off", "replay", "arrival", "floor"):
                store = a if mode == "floor" else "%s/store-%s-%d" % (work, mode, r)
                mp = "%s/mnt-%s-%d" % (work, mode, r)
                image = "img-repacked" if mode == "floor" else ref
                extra = [] if mode == "floor" else ["--plain-http"]
                subprocess.run("sync; echo 3 > /proc/sys/vm/drop_caches", shell=True)
                t0 = time.time()
                mount(store, image, mp, *extra, "--trace",
                      "replay" if mode == "arrival" else "off" if mode == "floor" else mode)
                cpu = 0.0
                if mode == "arrival":
                    took, m = wait_arrival(run, mp, store)
                    cpu = daemon_cpu_seconds(store)
                else:
                    subprocess.run(["chroot", mp] + program, check=True,
                                   stdout=subprocess.DEVNULL)
                    took = time.time() - t0
                    m = json.loads(run("stats", mp, "--json", "--store", store).stdout).get(
                        "metrics", {})
                results[mode].append((took, m.get("bytes_served", 0), m.get("bytes_fetched", 0),
                                      m.get("fetch_requests", 0),
                                      m.get("fetch_latency", {}).get("sum_seconds", 0), cpu))
                umount(mp, store)
        print("machine: %d cores, load %s; network: %s" %
              (os.cpu_count(), open("/proc/loadavg").read().split()[0], net.shaping))
        print("program: chroot MNT %s; %d rounds (median, min-max)" % (" ".join(program),
                                                                       args.rounds))
        for mode, rows in results.items():
            t = sorted(x[0] for x in rows)
            served = statistics.median(x[1] for x in rows)
            fetched = statistics.median(x[2] for x in rows)
            reqs = statistics.median(x[3] for x in rows)
            line = "%-8s %.2f s (%.2f-%.2f)  read %.1f MB  fetched %.1f MB  %d range requests" % (
                mode, statistics.median(t), t[0], t[-1], served / 1e6, fetched / 1e6, reqs)
            if served and mode in ("off", "replay"):
                line += "  (fetched/read %.2fx)" % (fetched / served)
            if mode == "arrival" and reqs:
                line += "  (a request took %.0f ms on average; daemon CPU %.2f s)" % (
                    1000 * statistics.median(x[4] for x in rows) / reqs,
                    statistics.median(x[5] for x in rows))
            if mode == "arrival" and CSB.PROFILES[args.profile]:
                delay, rate = CSB.PROFILES[args.profile]
                rtt = 2 * float(delay.rstrip("ms")) / 1000
                link = fetched * 8 / RATES[rate] + 2 * rtt
                line += "  link time + 2 RTT %.3f s -> %.2fx of it" % (link,
                                                                     statistics.median(t) / link)
            print(line)
    finally:
        for mp, store in list(mounts):
            subprocess.run([imgfs, "umount", mp, "--store", store], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if servers:
            servers.close()
        net.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
