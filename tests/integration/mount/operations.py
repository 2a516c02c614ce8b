#!/usr/bin/python3
"""operations: the configuration file, and a mount found from the mount itself.

A config file (named by $IMGFS_CONFIG) sets the store and a JSON log: `imgfs config show --json`
reports each value with its FILE:LINE (and a $IMGFS_CACHE_SIZE override as "$IMGFS_CACHE_SIZE");
convert and mount without --store use that store; the mount's source in mountinfo is
"imgfs:STORE". Then, with no config and no --store: `imgfs stats MP` answers from that store's
daemon, `imgfs ls --mounts --json` lists the mount as served with its image, and `imgfs umount MP`
unmounts it and the daemon exits. $IMGFS_METRICS_ADDRESS gives the spawned daemon a TCP Prometheus
endpoint that serves GET /metrics (the mount's series) and refuses everything else (404). The daemon's log lines are JSON, and the "mounted" line names
the mount and the image. A config with an unknown key or a bad value fails every command with
one line naming the file and line, exit 2.
"""

import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mountlib as ml  # noqa: E402
from mountlib import itest  # noqa: E402


def imgfs(binary, *args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("IMGFS_")}
    e.update(env or {})
    return subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=e, timeout=120)


def mount_source(mp):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == mp:
                rest = fields[fields.index("-") + 1:]
                return rest[0], rest[1].replace("\\040", " ")
    return None, None


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    ml.need_fuse()
    report = ml.Report()
    with ml.Session("operations", args.imgfs) as s:
        src = s.path("src")
        os.makedirs(os.path.join(src, "etc"))
        with open(os.path.join(src, "etc", "hello"), "w") as f:
            f.write("hello from the store the config names\n")
        store = s.store("configured store")  # a space: mountinfo escapes it
        conf = s.path("config.toml")
        with open(conf, "w") as f:
            f.write('# imgfs test config\nstore = "%s"\n\n[log]\nformat = "json"\nlevel = "info"\n'
                    % store)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {"IMGFS_CONFIG": conf, "IMGFS_METRICS_ADDRESS": "127.0.0.1:%d" % port}
        state = {}

        def config_show():
            p = imgfs(s.binary, "config", "show", "--json", env=dict(env, IMGFS_CACHE_SIZE="1G"))
            ml.check(p.returncode == 0, "config show: %s" % p.stderr)
            j = json.loads(p.stdout)
            got = {x["key"]: (x["value"], x["source"]) for x in j["settings"]}
            diffs = []
            if j["file"] != conf:
                diffs.append("file %r" % j["file"])
            if got["store"] != (store, conf + ":2"):
                diffs.append("store %r" % (got["store"],))
            if got["log.format"] != ("json", conf + ":5"):
                diffs.append("log.format %r" % (got["log.format"],))
            if got["cache_size"] != ("1G", "$IMGFS_CACHE_SIZE"):
                diffs.append("cache_size %r" % (got["cache_size"],))
            if got["trace.mode"] != ("off", "default"):
                diffs.append("trace.mode %r" % (got["trace.mode"],))
            return diffs

        def convert_and_mount():
            p = imgfs(s.binary, "convert", "dir:" + src, "--tag", "conf", env=env)
            ml.check(p.returncode == 0, "convert: %s" % p.stderr)
            state["digest"] = p.stdout.split()[-1]
            mp = s.path("mnt")
            os.makedirs(mp)
            s.mounts[mp] = store  # so the session's teardown unmounts it on failure
            p = imgfs(s.binary, "mount", "conf", mp, env=env)
            ml.check(p.returncode == 0, "mount: %s" % p.stderr)
            state["mp"] = mp
            fstype, source = mount_source(mp)
            diffs = []
            if fstype != "fuse.imgfs" or source != "imgfs:" + store:
                diffs.append("mountinfo says %r %r" % (fstype, source))
            with open(os.path.join(mp, "etc", "hello")) as f:
                if f.read() != "hello from the store the config names\n":
                    diffs.append("wrong bytes through the mount")
            return diffs

        def found_from_the_mount():
            mp = state["mp"]
            diffs = []
            p = imgfs(s.binary, "stats", mp, "--json")
            if p.returncode != 0:
                diffs.append("stats without --store: %s" % p.stderr.strip())
            elif json.loads(p.stdout).get("image") != state["digest"]:
                diffs.append("stats names image %r" % json.loads(p.stdout).get("image"))
            p = imgfs(s.binary, "ls", "--mounts", "--json")
            rows = [r for r in json.loads(p.stdout or "[]") if r["mountpoint"] == mp]
            if rows != [{"mountpoint": mp, "store": store, "image": state["digest"],
                         "state": "serving"}]:
                diffs.append("ls --mounts rows for the mount: %r (%s)" % (rows, p.stderr))
            return diffs

        def metrics_over_tcp():
            def get(method, path):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                    c.sendall(("%s %s HTTP/1.0\r\n\r\n" % (method, path)).encode())
                    data = b""
                    while chunk := c.recv(65536):
                        data += chunk
                return data.decode(errors="replace")
            diffs = []
            text = get("GET", "/metrics")
            if not text.startswith("HTTP/1.0 200") or 'mount="%s"' % state["mp"] not in text:
                diffs.append("GET /metrics: %r" % text[:300])
            types = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE ")]
            if len(types) != len(set(types)) or "imgfs_reads" not in types:
                diffs.append("metric families repeated or missing: %r" % types)
            for method, path in (("POST", "/shutdown"), ("GET", "/stats"), ("POST", "/umount")):
                answer = get(method, path)
                if not answer.startswith("HTTP/1.0 404"):
                    diffs.append("%s %s answered %r" % (method, path, answer[:100]))
            if not ml.is_mounted(state["mp"]):
                diffs.append("the mount went away")
            return diffs

        def json_log_names_mount_and_image():
            lines = [ln for ln in s.daemon_log(store).splitlines() if ln.strip()]
            ml.check(lines, "the daemon wrote no log")
            diffs = []
            for ln in lines:
                try:
                    j = json.loads(ln)
                except ValueError:
                    diffs.append("not JSON: %r" % ln)
                    continue
                for k in ("time", "level", "msg"):
                    if k not in j:
                        diffs.append("no %s in %r" % (k, ln))
            mounted = [json.loads(ln) for ln in lines
                       if ln.startswith("{") and json.loads(ln).get("msg") == "mounted"]
            if not any(m.get("mount") == state["mp"] and m.get("image") == state["digest"]
                       for m in mounted):
                diffs.append("no 'mounted' line with mount and image: %r" % lines)
            return diffs

        def umount_without_store():
            mp = state["mp"]
            pid = s.daemon_pid(store)
            p = imgfs(s.binary, "umount", mp)
            ml.check(p.returncode == 0, "umount without --store: %s" % p.stderr)
            ml.check(not ml.is_mounted(mp), "%s still mounted" % mp)
            s.mounts.pop(mp, None)
            deadline = time.time() + 20
            while pid and os.path.exists("/proc/%d" % pid) and time.time() < deadline:
                time.sleep(0.05)
            return [] if not pid or not os.path.exists("/proc/%d" % pid) else [
                "daemon %d still running after its last mount went" % pid]

        def bad_config_is_one_line():
            diffs = []
            for text, want in (('stoer = "/x"\n', ":1: unknown key 'stoer'"),
                               ('[log]\nlevel = "loud"\n', ":2: log.level:")):
                bad = s.path("bad.toml")
                with open(bad, "w") as f:
                    f.write(text)
                p = imgfs(s.binary, "ls", "--config", bad)
                lines = p.stderr.strip().splitlines()
                if p.returncode != 2 or len(lines) != 1 or bad + want not in lines[0]:
                    diffs.append("%r: exit %d, %r" % (text, p.returncode, p.stderr))
            return diffs

        ml.run_case(report, "config show: values and sources", config_show)
        ml.run_case(report, "convert and mount use the configured store", convert_and_mount)
        ml.run_case(report, "stats and ls --mounts find the daemon from the mount",
                    found_from_the_mount)
        ml.run_case(report, "metrics over TCP, nothing else", metrics_over_tcp)
        ml.run_case(report, "JSON log lines name the mount and image",
                    json_log_names_mount_and_image)
        ml.run_case(report, "umount finds the daemon from the mount", umount_without_store)
        ml.run_case(report, "a bad config is one line, exit 2", bad_config_is_one_line)
    report.exit()


if __name__ == "__main__":
    main()
