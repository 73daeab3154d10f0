#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# ELF fuzz test of uprobe-trace: deterministic mutants of a real program, each traced in bounded time.
"""usage: elf-fuzz.py UPROBE_TRACE PROGRAM [COUNT [SEED]]

PROGRAM (the demo: it prints "demo: compute called N times") is copied
COUNT times (default 180, or ELF_FUZZ_COUNT) with a few bytes changed in
one region each: the ELF header, the program headers, the section header
table, .dynsym/.dynstr, .symtab/.strtab, .gnu.hash, .eh_frame/.eh_frame_hdr
or the notes. Mutant i depends on SEED and i only. Each mutant is run
untraced, then under `uprobe-trace --count` (an explicit probe on compute,
or a wildcard for every third mutant), both under timeout. Every traced run
must end within its bound, and either
  - print exactly one stderr line of its own ("uprobe-trace: ...") and exit
    1 (the probe refused) or with the program's own untraced status (it
    died before its entry point), or
  - print none, exit with the program's status, leave the program's output
    as it was untraced, and (explicit probe) count compute's calls exactly
    as the program reports them.
A mutant that faults untraced (SIGSEGV, SIGBUS) may instead read what the
tracer mapped near its code and end otherwise: counted, not failed, when
the tracer says nothing of its own.
"""
import errno
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

TRACE_BOUND = 10   # seconds for one traced run (uprobe-trace must end by itself well before)
PLAIN_BOUND = 5    # seconds for one untraced run
ARG = "3"          # the demo's argument: calls of compute


def sections(elf):
    """name -> (offset, size) of each section with bytes in the file, and the header regions."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise SystemExit("not a 64-bit ELF file")
    phoff, shoff = struct.unpack_from("<QQ", elf, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", elf, 0x36)
    regions = {"ehdr": (0, 64), "phdr": (phoff, phentsize * phnum),
               "shdr": (shoff, shentsize * shnum)}
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    stroff = hdrs[shstrndx][4]
    for name_off, typ, _, _, off, size, *_ in hdrs:
        name = elf[stroff + name_off:elf.index(b"\0", stroff + name_off)].decode()
        if typ != 8 and size:  # SHT_NOBITS has no bytes in the file
            regions[name] = (off, size)
    return regions


# the regions mutated, in turn; a region the file lacks is skipped
WANTED = ["ehdr", "phdr", "shdr", ".dynsym", ".dynstr", ".symtab", ".strtab", ".gnu.hash",
          ".eh_frame", ".eh_frame_hdr", ".note.gnu.build-id", ".note.ABI-tag",
          ".note.gnu.property"]
INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x40]


def mutate(elf, regions, rng):
    """A copy of elf with 1 to 8 bytes (or one 64-bit word) changed in one region; and what changed."""
    names = [n for n in WANTED if n in regions]
    name = names[rng.randrange(len(names))]
    off, size = regions[name]
    out = bytearray(elf)
    edits = []
    if size >= 8 and rng.random() < 0.25:
        at = off + rng.randrange(size - 7)
        val = rng.choice([0, 2**63, 2**64 - 1, 2**32, rng.getrandbits(64)])
        struct.pack_into("<Q", out, at, val)
        edits.append("q@%#x=%#x" % (at, val))
    else:
        for _ in range(rng.randint(1, 8)):
            at = off + rng.randrange(size)
            kind = rng.random()
            if kind < 0.4:
                out[at] ^= 1 << rng.randrange(8)
            elif kind < 0.7:
                out[at] = rng.choice(INTERESTING)
            else:
                out[at] = rng.randrange(256)
            edits.append("b@%#x=%#x" % (at, out[at]))
    return bytes(out), "%s %s" % (name, " ".join(edits))


def run(argv, bound, cwd):
    t0 = time.monotonic()
    p = subprocess.run(["timeout", "-k", "2", str(bound)] + argv, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # timeout dies of the signal that killed the command: as a shell, 128+N
    rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return rc, p.stdout.decode("latin-1"), p.stderr.decode("latin-1"), time.monotonic() - t0


def compute_calls(out):
    for line in out.splitlines():
        if line.startswith("demo: compute called "):
            return line.split()[3]
    return None


def kernel_runs(path):
    """False when the kernel refuses to execute path (ENOEXEC): execvp() would hand it to
    /bin/sh as a script, whose garbage commands run in the background at their own pace."""
    try:
        p = subprocess.Popen([path, ARG], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    except OSError as e:
        return e.errno != errno.ENOEXEC
    p.kill()
    p.wait()
    return True


def check(ut, path, i, wildcard, tmp):
    """None when mutant i behaves, else why not."""
    if not kernel_runs(path):
        return "skip"
    # each run in an empty directory of its own: a mutant that execvp() runs as a shell
    # script (no longer ELF) creates files, which would change what the next run does
    rc0, out0, err0, _ = run([path, ARG], PLAIN_BOUND, tempfile.mkdtemp(dir=tmp))
    if rc0 == 124 or rc0 == 137:
        return "skip"  # the mutant itself does not end: nothing to compare with
    counts = os.path.join(tmp, "counts")
    probe = "u:%s:%s" % (path, "r*" if wildcard else "compute")
    rc, out, err, secs = run([ut, "--count", "-o", counts, probe, "--", path, ARG], TRACE_BOUND,
                             tempfile.mkdtemp(dir=tmp))
    if rc in (124, 137) or secs >= TRACE_BOUND:
        return "did not end within %d s (status %d)" % (TRACE_BOUND, rc)
    if rc != rc0 and rc0 in (128 + 7, 128 + 11) and "uprobe-trace: " not in err:
        # A wild read that faults untraced may land in the scratch area the
        # tracer maps near the code (seen: the dynamic linker reading a symbol
        # name through a corrupt .dynsym, which then prints "undefined symbol"
        # and exits 127). The program's own doing, not a tracer error.
        return "diverged"
    # the program's own stderr (the dynamic linker's complaints) is not ours
    own = err.splitlines()
    for line in err0.splitlines():
        if line in own:
            own.remove(line)
    # a warning (the probe's file is not what the command runs: a shell ran it) is no error
    own = [line for line in own if not line.startswith("uprobe-trace: warning: ")]
    ours = [line for line in own if line.startswith("uprobe-trace: ")]
    if len(own) != len(ours) or len(ours) > 1:
        return "stderr is not one line of ours: %r" % own[:4]
    if ours:
        if rc != 1 and rc != rc0:
            return "status %d with an error line (untraced %d): %s" % (rc, rc0, ours[0])
        return None
    if rc != rc0:
        return "status %d, untraced %d, and no error line" % (rc, rc0)
    if out != out0:
        return "the program's output changed: %r vs %r" % (out[:120], out0[:120])
    try:
        with open(counts) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    if not lines:
        return "no count line"
    if not wildcard:
        want = compute_calls(out0)
        got = lines[0].split()[-1]
        if want is not None and got != want:
            return "compute counted %s, the program says %s" % (got, want)
    return None


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    ut = os.path.abspath(sys.argv[1])
    prog = os.path.abspath(sys.argv[2])
    count = int(sys.argv[3] if len(sys.argv) > 3 else os.environ.get("ELF_FUZZ_COUNT", "180"))
    seed = int(sys.argv[4] if len(sys.argv) > 4 else os.environ.get("ELF_FUZZ_SEED", "17"))
    # crashing mutants must not leave core files
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with open(prog, "rb") as f:
        elf = f.read()
    regions = sections(elf)
    tmp = tempfile.mkdtemp(prefix="uprobe-fuzz.")
    failures = skipped = diverged = 0
    t0 = time.monotonic()
    try:
        for i in range(count):
            rng = random.Random(seed * 100003 + i)
            data, what = mutate(elf, regions, rng)
            path = os.path.join(tmp, "demo-%d" % i)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o755)
            why = check(ut, path, i, i % 3 == 2, tmp)
            if why == "skip":
                skipped += 1
            elif why == "diverged":
                diverged += 1
                print("note: mutant %d (seed %d; %s) faulted untraced, not traced" % (i, seed, what))
            elif why:
                failures += 1
                print("FAIL mutant %d (seed %d; %s): %s" % (i, seed, what, why))
            os.unlink(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d mutants of %s in %.1f s: %d failed, %d skipped (not executable, or did not end untraced), "
          "%d faulted only untraced" % (count, os.path.basename(prog), time.monotonic() - t0,
                                         failures, skipped, diverged))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
