#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The layering of lib/ (docs: ARCHITECTURE.md §4.1): who calls whom between its files, from gcc's call graph.
"""usage: check_layers.py [--lib DIR] [--build-dir DIR] [--verbose]

Compiles every lib/ source again, as the meson build in --build-dir
(default: build) compiles it (its compile_commands.json), at -O0 with
gcc's -fcallgraph-info, into a temporary directory: the build itself is
not touched. Each function found is the file's that defines it, and each
file has a layer (LAYERS below, lowest 0). It then reports:

  - the pairs of files that call each other;
  - the strongly connected components of the file graph larger than one
    file (every file of one reaches every other);
  - every call from a file of a lower layer to a function of a higher one;
  - every lib/ file that includes the header of a layer above its own
    (LAYER_HEADERS below): a call up a layer waiting to happen, or a
    reference up one that the call graph does not show (an address taken).

Enforcing for what lib/ no longer has: a call from a lower layer to a
higher one, an include of a higher layer's header (but those UP_INCLUDES
names), a file with no layer, two files that call each other, or any
cycle of files fails (exit 1): calls go one way, down the layers
and, within a layer, down an order the code keeps. The exit status is 1 too
when it cannot compile or parse, 77 (skip) when the compiler has no
-fcallgraph-info (clang, gcc before 10). Calls through function pointers (handlers, the
print callback) are not in gcc's graph: they are counted, not followed.
The last line sums it up for comparisons between two trees.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

SKIP = 77

# Today's files (paths under lib/) and their layer in ARCHITECTURE.md §4.1; after the arrow,
# the file of §4.2 each one becomes (several: a file that is split). A file of two layers
# has the layer of most of its code; the steps of §4.7 split them.
#   0 log, pool, util   1 procfs, seccomp, elf, arch   2 os: threads, memory, injection
#   3 engine data   4 mechanisms   5 orchestration   6 api (public entry points)
LAYERS = {
    'log.c': 0,             # -> log.c
    'err.c': 0,             # -> log.c (err_set() behind tracer_err; step 1 made err.c)
    'pool.c': 0,            # -> pool.c (its ri_* -> retcalls.c, step 1)
    'maps.c': 1,            # -> os/procfs.c
    'procfs.c': 1,          # -> os/procfs.c (status fields, out of task.c; signal sets, out of sigtrap.c, sigmask.c)
    'seccomp.c': 1,         # -> os/seccomp.c (its injection policy -> os/remote.c, step 1)
    'elf.c': 1,             # -> elf/elf.c (open, parse, cache; ehframe.c, elf_debug.c, elf_sym.c out of it)
    'ehframe.c': 1,         # -> elf/ehframe.c (landing pads from .eh_frame and LSDAs; out of elf.c)
    'elf_debug.c': 1,       # -> elf/ (separate debug files: build id, .gnu_debuglink, MiniDebugInfo; out of elf.c)
    'elf_sym.c': 1,         # -> elf/ (vaddr <-> file offset, the symbol index and its lookups; out of elf.c)
    'usdt_args.c': 1,       # -> elf/ (a format: the operands of .note.stapsdt)
    'caps.c': 1,            # -> arch/x86/linux.c (what this machine does, measured)
    'arch/x86/decode.c': 1,   # -> arch/x86/decode.c (out of insn.c, step 3)
    'arch/x86/relocate.c': 1,  # -> arch/x86/relocate.c (out of insn.c, step 3)
    'arch/x86/linux.c': 1,     # -> arch/x86/linux.c (x86-64 Linux register/ABI facts, step 3)
    'arch/x86/emulate.c': 1,  # -> arch/x86/emulate.c
    'arch/x86/gadget.c': 1,   # -> arch/x86/gadget.c
    'arch/x86/lifeline.c': 1,  # -> arch/x86/ (the handler copied into the tracee)
    'task.c': 2,            # -> os/task.c (with task_hold, task_resume_or_hold: out of trap.c); os/wait.c, os/hold.c, os/procfs.c got the rest
    'wait.c': 2,            # -> os/wait.c (events taken, kept, dispatched; a thread's run to its trap; out of task.c), with tracer.c's waker later
    'hold.c': 2,            # -> os/hold.c (every thread of a process held and let go; out of task.c; the threads sharing a memory held for an in-place step, their traps kept: out of inline.c)
    'mem.c': 2,             # -> os/mem.c (membatch.c merged into it in step 1)
    'inject.c': 2,          # -> os/remote.c (with rt_sigaction injected, out of sigtrap.c)
    'inject_run.c': 2,      # -> os/remote.c's neighbour, under inject.c: injected code run to its end, SIGTRAP guarded (out of inject.c)
    'place.c': 2,           # -> os/place.c (uprobe_tracer_set_cpu -> api/tracer.c)
    'guardian.c': 2,        # -> os/ (a process of its own that restores bytes after our death)
    'xol.c': 3,             # -> xol.c, os/remote.c
    'bptable.c': 3,         # -> bptable.c (step 1 made it, out of probe.c)
    'registry.c': 3,        # -> registry.c (sites, pools, handler runners; out of probe.c and trap.c, step 5)
    'detour_rules.c': 3,    # -> detour_rules.c (static rules, branch-target cache; out of detour.c, step 5)
    'retcalls.c': 3,        # -> retcalls.c (each thread's pending calls, their pool; data under ring.c, inline.c)
    'retprobe.c': 4,        # -> retprobe.c, xol.c (xol_trampoline)
    'detour.c': 4,          # -> detour.c, detour_rules.c (layer 3)
    'detour_make.c': 4,     # -> detour.c's neighbour, above it: a detour made at a hit (site checks, its kind, built, the jmp written; out of detour.c)
    'detour_threads.c': 4,  # -> detour.c's neighbour, under detour_make.c: the held threads checked and moved for a jmp (out of detour.c)
    'detour_hit.c': 4,      # -> detour.c's neighbour, under detour_make.c: a thread's run through a detour, its int3, resume, faults (out of detour.c)
    'ring_drain.c': 4,      # -> ring.c's neighbour, above it: drains, poll, forget/unmap, the return gadget's int3s (out of ring.c)
    'ring.c': 4,            # -> ring.c (made, mapped; gadgets, counters), os/remote.c (inject_checked)
    'ring_deliver.c': 4,    # -> ring.c's neighbour, under ring_drain.c: records to handlers, threads named by fs_base (out of ring.c)
    'ring_nsret.c': 4,      # -> ring.c's neighbour, under ring_deliver.c: the table of hijacked return addresses (out of ring.c)
    'inline.c': 4,          # -> inline.c, xol.c (inline_entry_trap); its holding of threads went to hold.c
    'unwind.c': 4,          # -> unwind.c (uprobe_hit_backtrace -> api/hit.c)
    'plant.c': 4,           # -> plant.c (out of probe.c, step 5)
    'resolve_check.c': 4,   # -> resolve.c's neighbour, above it: a return probe's place, instruction boundaries (out of resolve.c)
    'resolve.c': 4,         # -> resolve.c (out of probe.c, step 5): binaries, IFUNCs, library names
    'kernel.c': 4,          # -> plant.c's neighbour: the kernel's uprobes in the same text
    'kernel_watch.c': 4,    # -> plant.c's neighbour, above detour.c: int3s and detours the kernel changed, mended (out of kernel.c)
    'lifeline.c': 4,        # -> lifeline.c: our SIGTRAP handler in the tracee, resets put back; its table went to lifeline_table.c
    'lifeline_table.c': 4,  # -> lifeline.c's neighbour, under it: the table of our int3s in the tracee and its mirror (out of lifeline.c)
    'sigtrap.c': 4,         # -> sigtrap.c: SIGTRAP as the program set it (out of lifeline.c); calls sigmask.c
    'sigmask.c': 4,         # -> sigmask.c: each thread's mask as the program set it; calls lifeline.c
    'area.c': 4,            # -> area.c (areas with their lifeline and inline state; out of xol.c)
    'stepout.c': 4,         # -> stepout.c (threads out of slots and detours; out of xol.c, trap.c, detour.c, step 5)
    'hooks.c': 5,           # -> lifecycle.c (its tracer_hooks table; step 2 made hooks.c)
    'dispatch.c': 5,        # -> dispatch.c (trap.c renamed; its fork/exec/exit handlers and start-up breakpoint went to lifecycle.c)
    'probe.c': 5,           # -> probes.c, api/probe.c
    'lifecycle.c': 5,       # -> lifecycle.c (probe.c's probe_plant_all, probe_on_dl_state, early_area; trap.c's fork/exec/exit handlers, start-up breakpoint)
    'watch.c': 5,           # -> watch.c
    'events.c': 5,          # -> lifecycle.c's neighbour: fork/exec/exit events for the tool
    'usdt.c': 5,            # -> probes.c's neighbour: USDT sites as probes, semaphores
    'tracer.c': 6,          # -> api/tracer.c (new/free, run, stop, call; spawn.c, attach.c, detach.c out of it), os/wait.c (waker)
    'spawn.c': 6,           # -> api/tracer.c (uprobe_tracer_spawn*: fork, seize, to the exec and the entry point; out of tracer.c)
    'attach.c': 6,          # -> api/tracer.c, lifecycle.c (seize_*: every thread seized; out of tracer.c)
    'detach.c': 6,          # -> api/tracer.c, lifecycle.c (detach_task, detach_proc: a process let go; out of tracer.c)
    'probe_api.c': 6,       # -> api/probe.c (uprobe_add over probe.c's probe_add, and the watch its first return probe starts)
    'hit.c': 6,             # -> api/hit.c (step 1 made it, out of tracer.c)
    'sym.c': 6,             # -> api/ (the symbols API)
    'agg.c': 6,             # -> api/ (aggregations: histograms; no tracer involved)
    'agg_counts.c': 6,      # -> api/ (aggregations: keyed counters; out of agg.c, which it does not call)
}

# The header of each layer's declarations (issue 16): a lib/ file includes its own layer's,
# which includes the one below. internal.h and core.h (the types, and layers 0 and 1 over
# them) are shared by every layer.
LAYER_HEADERS = {
    'internal.h': 0,
    'core.h': 0,
    'os.h': 2,
    'engine.h': 3,
    'mech.h': 4,
    'orch.h': 5,
    'api.h': 6,
}

# Includes of a higher layer's header still there, and what they are for: reported, not failed.
UP_INCLUDES = {
}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def die(msg):
    print('check_layers: ' + msg, file=sys.stderr)
    sys.exit(1)


def lib_units(build_dir, lib_dir):
    """The compile command of each lib/ source in the build, as {path under lib/: entry}."""
    path = os.path.join(build_dir, 'compile_commands.json')
    try:
        with open(path) as f:
            entries = json.load(f)
    except (OSError, ValueError) as e:
        die('%s: %s' % (path, e))
    units = {}
    for e in entries:
        src = os.path.realpath(os.path.join(e['directory'], e['file']))
        rel = os.path.relpath(src, lib_dir)
        if rel.startswith('..') or not rel.endswith('.c'):
            continue
        units.setdefault(rel, e)
    if not units:
        die('%s names no source under %s' % (path, lib_dir))
    return units


def callgraph_command(entry, out):
    """entry's command, made to write only out (assembly) and its .ci, at -O0, without warnings."""
    args = entry.get('arguments') or shlex.split(entry['command'])
    cmd = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ('-o', '-MQ', '-MF', '-MT'):
            skip = True
            continue
        if (a in ('-c', '-S', '-MD', '-MMD', '-g', '-Winvalid-pch') or a.startswith('-O')
                or a.startswith('-fsanitize') or a.startswith('-fdiagnostics-color')
                or a.startswith('-flto')):
            continue
        cmd.append(a)
    return cmd + ['-O0', '-w', '-fcallgraph-info', '-S', '-o', out]


def has_callgraph_info(compiler, tmp):
    src = os.path.join(tmp, 'probe_flag.c')
    with open(src, 'w') as f:
        f.write('int f(void);\nint g(void) { return f(); }\n')
    r = subprocess.run(compiler + ['-fcallgraph-info', '-S', '-o', os.path.join(tmp, 'probe_flag.s'),
                                   src], capture_output=True, text=True)
    return r.returncode == 0


def compile_all(units, tmp):
    """Runs every unit's command, one per CPU at a time: {unit: path of its .ci}."""
    jobs = {}
    for i, (rel, e) in enumerate(sorted(units.items())):
        out = os.path.join(tmp, '%d.s' % i)
        jobs[rel] = (e['directory'], callgraph_command(e, out), os.path.join(tmp, '%d.ci' % i))

    def run(rel):
        cwd, cmd, ci = jobs[rel]
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        return rel, r, ci

    cis = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        for rel, r, ci in ex.map(run, jobs):
            if r.returncode != 0 or not os.path.exists(ci):
                die('cannot compile lib/%s:\n%s' % (rel, r.stderr.strip()))
            cis[rel] = ci
    return cis


NODE = re.compile(r'^node: \{ title: "([^"]*)" label: "([^"\\]*)\\n([^"]*)"( shape : ellipse)?')
EDGE = re.compile(r'^edge: \{ sourcename: "([^"]*)" targetname: "([^"]*)"')


def parse_ci(path):
    """(functions defined: {title: name}, extern functions called: {title: name}, edges).

    A unit may define none (arch/x86/gadget.c is code as data)."""
    defined, declared, edges = {}, {}, []
    with open(path) as f:
        if not f.readline().startswith('graph: {'):
            die('%s: not a -fcallgraph-info file' % path)
        for line in f:
            m = NODE.match(line)
            if m:
                title, name, _, ext = m.groups()
                (declared if ext else defined)[title] = name
                continue
            m = EDGE.match(line)
            if m:
                edges.append(m.groups())
    return defined, declared, edges


def build_graph(cis):
    """{(caller file, callee file): {(caller, callee)}} between different files, and indirect calls."""
    units = {rel: parse_ci(ci) for rel, ci in cis.items()}
    owner = {}
    for rel, (defined, _, _) in sorted(units.items()):
        for title, name in defined.items():
            if title == name:  # extern: static ones are titled "unit:name"
                if name in owner and owner[name] != rel:
                    print('check_layers: %s defined in both %s and %s' % (name, owner[name], rel))
                owner[name] = rel
    calls, indirect = {}, 0
    for rel, (defined, declared, edges) in units.items():
        for src, dst in edges:
            if dst == '__indirect_call':
                indirect += 1
                continue
            if dst in defined:
                continue
            to = owner.get(declared.get(dst, dst))
            if to is None or to == rel:
                continue  # the C library, libelf, Zydis, libunwind; or the file itself
            calls.setdefault((rel, to), set()).add((defined.get(src, src), declared.get(dst, dst)))
    nfuncs = len({(rel, t) for rel, (d, _, _) in units.items() for t in d})
    return calls, indirect, nfuncs


def sccs(nodes, edges):
    """Tarjan's strongly connected components, iteratively."""
    succ = {n: sorted(b for a, b in edges if a == n) for n in nodes}
    index, low, on, stack, out = {}, {}, set(), [], []
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            n, i = work.pop()
            if i == 0:
                index[n] = low[n] = len(index)
                stack.append(n)
                on.add(n)
            if i < len(succ[n]):
                work.append((n, i + 1))
                m = succ[n][i]
                if m not in index:
                    work.append((m, 0))
                elif m in on:
                    low[n] = min(low[n], index[m])
                continue
            if low[n] == index[n]:
                comp = []
                while True:
                    m = stack.pop()
                    on.discard(m)
                    comp.append(m)
                    if m == n:
                        break
                out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[n])
    return out


def upward_includes(lib_dir, files):
    """[(file, header)] for each lib/ file that includes the header of a layer above its own."""
    up = []
    for f in files:
        if f not in LAYERS:
            continue
        try:
            with open(os.path.join(lib_dir, f)) as fp:
                text = fp.read()
        except OSError as e:
            die('%s: %s' % (f, e))
        for inc in INCLUDE.findall(text):
            h = os.path.basename(inc)
            if LAYER_HEADERS.get(h, -1) > LAYERS[f]:
                up.append((f, h))
    return sorted(up, key=lambda p: (LAYERS[p[0]], p[0], LAYER_HEADERS[p[1]]))


def layer_name(f):
    return 'L%s %s' % (LAYERS.get(f, '?'), f)


def fmt_calls(pairs, limit):
    names = ['%s->%s' % p for p in sorted(pairs)]
    if limit and len(names) > limit:
        names = names[:limit] + ['... %d more' % (len(names) - limit)]
    return ', '.join(names)


def report(files, calls, indirect, nfuncs, up_inc, verbose):
    limit = 0 if verbose else 4
    unassigned = sorted(f for f in files if f not in LAYERS)
    for f in unassigned:
        print('unassigned: lib/%s has no layer in LAYERS (check_layers.py): counted as no layer' % f)

    print('files: %d, functions: %d, calls between files: %d (%d file pairs), '
          'indirect call sites: %d (not followed)'
          % (len(files), nfuncs, sum(len(v) for v in calls.values()), len(calls), indirect))

    mutual = sorted((a, b) for a, b in calls if a < b and (b, a) in calls)
    print('\nmutual pairs: %d' % len(mutual))
    for a, b in mutual:
        print('  %s <-> %s' % (a, b))
        print('    %s' % fmt_calls(calls[(a, b)], limit))
        print('    %s' % fmt_calls(calls[(b, a)], limit))

    big = [c for c in sccs(files, calls.keys()) if len(c) > 1]
    big.sort(key=lambda c: (-len(c), c))
    print('\nstrongly connected components larger than one file: %d' % len(big))
    for c in big:
        print('  %d files: %s' % (len(c), ' '.join(c)))

    up = sorted(((a, b) for a, b in calls
                 if a in LAYERS and b in LAYERS and LAYERS[a] < LAYERS[b]),
                key=lambda p: (LAYERS[p[0]], p[0], LAYERS[p[1]], p[1]))
    nup = sum(len(calls[p]) for p in up)
    print('\ncalls from a lower layer to a higher one: %d (%d file pairs)' % (nup, len(up)))
    for a, b in up:
        print('  %s -> %s' % (layer_name(a), layer_name(b)))
        for caller, callee in sorted(calls[(a, b)]):
            print('    %s -> %s' % (caller, callee))

    known = [p for p in up_inc if p in UP_INCLUDES]
    print('\nincludes of a higher layer\'s header: %d (%d known, in UP_INCLUDES)'
          % (len(up_inc), len(known)))
    for f, h in up_inc:
        print('  %s includes L%d %s%s' % (layer_name(f), LAYER_HEADERS[h], h,
                                         ' (known: %s)' % UP_INCLUDES[(f, h)]
                                         if (f, h) in UP_INCLUDES else ''))

    print('\nlayers: %d mutual pairs, %d SCCs > 1 file (largest %d files), %d upward calls '
          '(%d file pairs), %d unassigned files, %d upward includes (%d known)'
          % (len(mutual), len(big), len(big[0]) if big else 1, nup, len(up), len(unassigned),
             len(up_inc), len(known)))
    return nup + len(unassigned) + len(big) + len(up_inc) - len(known)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description='report the layering of lib/ (ARCHITECTURE.md §4.1)')
    ap.add_argument('--lib', default=os.path.join(here, '..', '..', 'lib'))
    ap.add_argument('--build-dir', default='build')
    ap.add_argument('--verbose', action='store_true', help='name every call of a mutual pair')
    opts = ap.parse_args()
    lib_dir = os.path.realpath(opts.lib)

    units = lib_units(os.path.realpath(opts.build_dir), lib_dir)
    with tempfile.TemporaryDirectory(prefix='check_layers.') as tmp:
        any_unit = next(iter(units.values()))
        args = any_unit.get('arguments') or shlex.split(any_unit['command'])
        compiler = args[:2] if os.path.basename(args[0]) in ('ccache', 'sccache') else args[:1]
        if not has_callgraph_info(compiler, tmp):
            print('check_layers: %s has no -fcallgraph-info (gcc 10 or later has): skipped'
                  % ' '.join(compiler))
            return SKIP
        calls, indirect, nfuncs = build_graph(compile_all(units, tmp))
    files = sorted(units)
    if report(files, calls, indirect, nfuncs, upward_includes(lib_dir, files), opts.verbose):
        print('check_layers: FAIL: a call up a layer, a cycle of files, a file without a layer, '
              'or an include of a higher layer\'s header (enforced)')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
