#!/usr/bin/python3
"""coldstart_quick: a smoke run of tools/coldstart-bench --quick (busybox image, loopback, one
round of the warm floor, imgfs from an empty store and from a mounted image, and containerd when
installed, and stargz-snapshotter when tools/stargz/build.sh has built it into the build dir's
stargz/) that checks the three reports are produced and well formed: results.json with a
median, min and max for every step of every contender that ran, results.md with a table row per
contender, results.svg that parses as SVG with a bar per contender. Numbers are checked for being
there and positive, never for their values. With stargz built, its row must be there with
requests to the registry counted (the rpull and the lazy reads through its daemon). With
imgfs-cri built (gRPC), the containerd-cri-imgfs row must be there (the bench fails that row if
its CRI pull downloaded a layer).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "tools", "coldstart-bench")


def main():
    args = itest.parse_args(__doc__.splitlines()[0])
    itest.need_root()
    itest.need_tools("docker-registry", "nginx", "skopeo", "busybox")
    report = itest.Report()
    build = os.path.dirname(os.path.dirname(args.imgfs))
    runc_lite = os.path.join(build, "runc-lite", "runc-lite")
    stargz_dir = os.path.join(build, "stargz")
    out = tempfile.mkdtemp(prefix="coldstart-quick-")
    contenders = ["unpacked", "unpacked-hot", "imgfs-empty", "imgfs-node", "imgfs-mounted",
                  "containerd-runc"]
    must = {"unpacked", "unpacked-hot", "imgfs-empty", "imgfs-node", "imgfs-mounted"}
    # containerd + crun, whose containerd sees the v1-only layout in a private mount namespace:
    # checked on a hybrid host (this one), where that layout is made by hiding the cgroup2 mount.
    hybrid = any(line.split()[4] == "/sys/fs/cgroup/unified"
                 for line in open("/proc/self/mountinfo"))
    if shutil.which("crun") and shutil.which("containerd") and hybrid:
        contenders.append("containerd-crun")
        must.add("containerd-crun")
    if shutil.which("podman"):
        contenders.append("podman")
        must.add("podman")
    # The CRI row (containerd's CRI plugin + imgfs snapshotter) when imgfs-cri is built (gRPC).
    cri = os.path.join(build, "tools", "cri", "imgfs-cri")
    if os.access(cri, os.X_OK) and shutil.which("containerd"):
        contenders.append("containerd-cri-imgfs")
        must.add("containerd-cri-imgfs")
    stargz = all(os.access(os.path.join(stargz_dir, b), os.X_OK)
                 for b in ("ctr-remote", "containerd-stargz-grpc"))
    if stargz:
        contenders.append("stargz")
    else:
        print("note: stargz not built in %s (tools/stargz/build.sh %s); its row is not checked"
              % (stargz_dir, stargz_dir))
    p = subprocess.run([BENCH, "--quick", "--runs", "1", "--only", ",".join(contenders),
                        "--out", out, "--imgfs", args.imgfs, "--runc-lite", runc_lite,
                        "--stargz-dir", stargz_dir, "--cri", cri],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    report.case("coldstart-bench --quick exits 0", [] if p.returncode == 0 else [
        "exit %d: %s" % (p.returncode, p.stderr[-2000:])])
    if p.returncode != 0:
        report.exit()

    def json_report():
        j = json.load(open(os.path.join(out, "results.json")))
        diffs = []
        ran = set(j["summary"])
        if not must <= ran:
            diffs.append("contenders that ran: %s; not run: %r" % (sorted(ran), j["not_run"]))
        for name, row in j["summary"].items():
            for key in ("first", "total"):
                v = row[key]
                if not (0 < v["min"] <= v["median"] <= v["max"]):
                    diffs.append("%s %s: %r" % (name, key, v))
        if stargz and not j["summary"].get("stargz", {}).get("requests"):
            diffs.append("stargz did not run or fetched nothing: %r / %r" % (
                j["summary"].get("stargz"), j["not_run"].get("stargz")))
        # imgfs-node's daemon had the image before its run: removed and collected, it came again.
        for name in ("imgfs-empty", "imgfs-node"):
            if j["summary"].get(name, {}).get("requests", 0) in (0, None):
                diffs.append("%s fetched nothing from the remote: %r" % (
                    name, j["summary"].get(name)))
        return diffs

    def markdown_report():
        text = open(os.path.join(out, "results.md")).read()
        rows = [ln for ln in text.splitlines() if ln.startswith("| imgfs-empty |")]
        return [] if len(rows) == 2 and "Command: `tools/coldstart-bench --quick" in text else [
            "results.md: %r" % text[:600]]

    def svg_report():
        tree = ET.parse(os.path.join(out, "results.svg"))
        ns = "{http://www.w3.org/2000/svg}"
        bars = tree.getroot().findall(ns + "rect")
        labels = [t.text for t in tree.getroot().findall(ns + "text")]
        diffs = []
        if tree.getroot().tag != ns + "svg":
            diffs.append("root element %s" % tree.getroot().tag)
        for name in ("unpacked", "imgfs-empty", "imgfs-mounted"):
            if name not in labels:
                diffs.append("no label %s in the chart" % name)
        if len(bars) < 5:
            diffs.append("only %d rects" % len(bars))
        return diffs

    for name, fn in (("results.json", json_report), ("results.md", markdown_report),
                     ("results.svg", svg_report)):
        try:
            report.case(name, fn())
        except (OSError, ValueError, KeyError, ET.ParseError) as e:
            report.error(name, e)
    subprocess.run(["rm", "-rf", out])
    report.exit()


if __name__ == "__main__":
    main()
