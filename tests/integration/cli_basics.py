#!/usr/bin/python3
"""cli_basics: the store-management commands behave as a user expects.

  * convert prints one line, the index digest; `imgfs ls` lists the tag with that digest;
  * `imgfs inspect IMAGE --json` is valid JSON whose file and directory counts match the
    tree umoci unpacks from the same image;
  * converting the same image again gives the same digest and stores no new chunk;
  * a second image that shares two of its three layers with the first shares chunks;
  * `imgfs rm TAG` drops the name (and only it), `imgfs rm` of an unknown name fails with
    one line; after removing everything, `imgfs gc` removes chunks and a second gc none;
  * an image stays exportable by digest while a tag still refers to it.
"""

import json
import os
import stat

import itest
from itest import mkimage
import feature_images as fi


def tree_counts(root):
    """(regular file paths, distinct regular inodes, dirs incl. root, dirs excl. root)."""
    files, inodes, dirs = 0, set(), 1
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:  # dirnames holds symlinks to dirs too
            st = os.lstat(os.path.join(dirpath, name))
            dirs += stat.S_ISDIR(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                files += 1
                inodes.add(st.st_ino)
    return files, len(inodes), dirs, dirs - 1


def find_count(doc, keys):
    """Int value of the first of `keys` found in a JSON object tree (breadth first)."""
    level = [doc]
    while level:
        for key in keys:
            for obj in level:
                value = obj.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    return key, value
        level = [v for obj in level for v in obj.values() if isinstance(v, dict)]
    return None


def shared_chunks(doc):
    """Chunks of this image that the store already held ("shared_with_store": {"chunks"})."""
    shared = doc.get("shared_with_store")
    if isinstance(shared, dict):
        return find_count(shared, ("chunks",))
    return find_count(doc, ("shared_chunks", "chunks_shared", "dedup_chunks"))


def main():
    args = itest.parse_args(__doc__.splitlines()[1])
    itest.need_root()
    itest.need_tools("umoci")
    report = itest.Report()
    with itest.Workdir("cli-basics") as w:
        layout = w("layout")
        base = fi.features("gzip")
        related = base[:2] + [dict(compression="gzip", entries=[
            fi.F("extra/only-in-b", "b"), dict(type="file", path="extra/rand", random=[65536, 9])])]
        mkimage.build_layout(layout, [dict(tag="a", layers=base), dict(tag="b", layers=related)])
        imgfs = itest.Imgfs(args.imgfs, w("store"))

        def case(name, fn):
            try:
                problems = fn()
            except (itest.CommandFailed, AssertionError, ValueError, KeyError) as e:
                problems = ["error: %s" % e]
            report.case(name, problems)

        state = {}

        def convert_and_ls():
            proc = imgfs.run("convert", "oci:%s:a" % layout, "--store", imgfs.store,
                             "--tag", "a")
            lines = proc.stdout.strip().splitlines()
            if len(lines) != 1 or not itest.DIGEST_RE.match(lines[0]):
                return ["convert stdout is not one digest line: %r" % proc.stdout]
            state["a"] = lines[0]
            listing = imgfs.ls()
            row = [l for l in listing.splitlines() if l.split() and l.split()[0] == "a"]
            if not row or lines[0] not in row[0] and lines[0][7:19] not in row[0]:
                return ["`imgfs ls` has no row for a with its digest: %r" % listing]
            return []

        def inspect_counts():
            proc = imgfs.run("inspect", "a", "--json")
            doc = json.loads(proc.stdout)
            ref, _ = itest.umoci_unpack(layout, "a", w("ref-a"))
            files, inodes, dirs, dirs_no_root = tree_counts(ref)
            problems = []
            fc = find_count(doc, ("files", "regular_files", "file_count"))
            dc = find_count(doc, ("directories", "dirs", "dir_count"))
            if fc is None or fc[1] not in (files, inodes):
                problems.append("inspect file count %s, want %d paths or %d inodes"
                                % (fc, files, inodes))
            if dc is None or dc[1] not in (dirs, dirs_no_root):
                problems.append("inspect dir count %s, want %d (or %d without the root)"
                                % (dc, dirs, dirs_no_root))
            state["inspect_a"] = doc
            return problems

        def idempotent():
            imgfs.gc()
            before = imgfs.chunk_count()
            again = imgfs.convert("oci:%s:a" % layout, tag="a-again")
            problems = []
            if again != state["a"]:
                problems.append("second convert gave %s, first %s" % (again, state["a"]))
            after = imgfs.chunk_count()
            if before is None:
                doc = json.loads(imgfs.run("inspect", "a-again", "--json").stdout)
                new = find_count(doc, ("new_chunks", "new_stored_bytes_vs_store"))
                if new is None:
                    problems.append("cannot tell the store's chunk count: neither `imgfs gc` "
                                    "nor inspect --json reports it")
                elif new[1] != 0:
                    problems.append("second convert stored %s new chunks" % (new,))
            elif after != before:
                problems.append("store went from %d to %d chunks" % (before, after))
            return problems

        def shares_chunks():
            imgfs.gc()
            before = imgfs.chunk_count()
            imgfs.convert("oci:%s:b" % layout, tag="b")
            doc = json.loads(imgfs.run("inspect", "b", "--json").stdout)
            problems = []
            shared = shared_chunks(doc)
            total = find_count(doc, ("unique_chunks", "chunks"))
            after = imgfs.chunk_count()
            if shared is not None:
                if shared[1] <= 0:
                    problems.append("inspect b reports no sharing: %s" % (shared,))
            elif before is not None and total is not None:
                if after - before >= total[1]:
                    problems.append("b added %d chunks but has %d: nothing shared"
                                    % (after - before, total[1]))
            else:
                problems.append("inspect --json of b reports no sharing figure: %s"
                                % json.dumps(doc)[:300])
            return problems

        def rm_and_gc():
            problems = []
            imgfs.run("rm", "a-again")
            names = imgfs.ls_names()
            if "a-again" in names or "a" not in names or "b" not in names:
                problems.append("after rm a-again, ls shows %r" % names)
            removed = itest.removed_chunks(imgfs.gc())
            if removed not in (None, 0):
                problems.append("gc removed %d chunks still used by a" % removed)
            imgfs.export(state["a"], w("out-a"))  # by digest, still tagged "a"
            bad = imgfs.run("rm", "no-such-image", check=False)
            if bad.returncode == 0:
                problems.append("rm of an unknown name succeeded")
            elif len([l for l in bad.stderr.splitlines() if l.strip()]) != 1:
                problems.append("rm of an unknown name: stderr is not one line: %r" % bad.stderr)
            imgfs.run("rm", "a")
            imgfs.run("rm", "b")
            out = imgfs.gc()
            removed = itest.removed_chunks(out)
            if removed is None or removed <= 0:
                problems.append("gc after removing everything: %r" % out.strip())
            second = itest.removed_chunks(imgfs.gc())
            if second not in (None, 0):
                problems.append("second gc removed %d more chunks" % second)
            if imgfs.ls_names():
                problems.append("ls after removing everything: %r" % imgfs.ls())
            return problems

        case("convert-ls", convert_and_ls)
        if "a" in state:
            case("inspect-json", inspect_counts)
            case("idempotent-convert", idempotent)
            case("related-images-share-chunks", shares_chunks)
            case("rm-gc", rm_and_gc)
    report.exit()


if __name__ == "__main__":
    main()
