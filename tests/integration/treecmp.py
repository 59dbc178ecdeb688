#!/usr/bin/env python3
"""treecmp.py A B: compares two rootfs trees: paths, types, modes, owners, sizes, contents,
symlink targets, device numbers and hard-link groups. Prints each difference (at most 40) and
`N paths compared, M differences'; exits 1 when there is a difference."""
import hashlib
import os
import stat
import sys


def walk(root):
    out, inodes = {}, {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            e = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)),
                 "owner": (st.st_uid, st.st_gid)}
            if stat.S_ISREG(st.st_mode):
                e["size"] = st.st_size
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for b in iter(lambda: f.read(1 << 20), b""):
                        h.update(b)
                e["sha256"] = h.hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            out[rel] = e
    groups = {}
    for paths in inodes.values():
        for p in paths:
            groups[p] = sorted(paths)
    return out, groups


a, ga = walk(sys.argv[1])
b, gb = walk(sys.argv[2])
diffs = []
for p in sorted(set(a) | set(b)):
    if p not in a:
        diffs.append(f"{p}: only in {sys.argv[2]}")
    elif p not in b:
        diffs.append(f"{p}: only in {sys.argv[1]}")
    elif a[p] != b[p]:
        diffs.append(f"{p}: {a[p]} vs {b[p]}")
    elif ga.get(p) != gb.get(p):
        diffs.append(f"{p}: hard links {ga.get(p)} vs {gb.get(p)}")
for d in diffs[:40]:
    print(d)
print(f"{len(a)} paths compared, {len(diffs)} differences")
sys.exit(1 if diffs else 0)
