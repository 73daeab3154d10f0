// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Whether a probe may go where resolve.c found it, asked before any byte
 * changes: a return probe's place (a called function's first instruction,
 * not Go's moving stacks), the functions that return twice, what counts as
 * a function's entry for uprobe_hit_override_return(), and the instruction
 * boundary (decoded once per function, cached in the tracer).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "mech.h"

static bool proc_is_go(struct proc *p)
{
	char exe[64], why[64];
	struct elf_file *f;

	/* the executable maps its entry point: no system call per return probe added */
	for (int i = 0; i < p->nmaps && p->entry; i++) {
		const struct map_entry *m = &p->maps[i];

		if (p->entry >= m->start && p->entry < m->end && m->ino &&
		    (f = elf_cached(makedev(m->dev_major, m->dev_minor), m->ino)))
			return f->is_go;
	}
	snprintf(exe, sizeof(exe), "/proc/%d/exe", p->pid);
	return elf_open(exe, &f, why, sizeof(why)) == 0 && f->is_go;
}

/*
 * A compiler's cold part of a function (GCC's "f.cold", older GCC's and
 * clang's "f.cold.1"): its own FUNC symbol, but reached by a jump from
 * f's body, never called; [rsp] there is whatever f's frame holds.
 */
static bool is_cold_part(const char *name)
{
	const char *c = strstr(name, ".cold");

	while (c && c[5] && c[5] != '.')
		c = strstr(c + 1, ".cold");
	if (!c)
		return false;
	c += 5;
	if (!*c)
		return true;
	if (!c[1])
		return false;
	for (c++; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return true;
}

/*
 * Code that is jumped to, not called, so [rsp] holds no return address at
 * its first instruction: ld.so's lazy-binding trampolines (the PLT pushes
 * a relocation index after the caller's return address), the signal
 * return trampoline (rt_sigreturn's frame), and ld.so's and the program's
 * startup, and a compiler's cold parts of functions (is_cold_part()).
 * Name prefixes: _dl_runtime_resolve_xsavec, _dl_start_user, ...
 */
static const char *const not_called_prefixes[] = {
	"_dl_runtime_resolve", "_dl_runtime_profile", "__restore_rt", "_dl_start",
};

static bool not_called(const char *name)
{
	if (!name)
		return false;
	if (!strcmp(name, "_start") || is_cold_part(name))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(not_called_prefixes); i++)
		if (!strncmp(name, not_called_prefixes[i], strlen(not_called_prefixes[i])))
			return true;
	return false;
}

/*
 * A return probe hijacks the return address at [rsp], which holds it only
 * at a function's first instruction; and Go copies goroutine stacks, return
 * addresses included, which no return could then be matched to.
 */
int resolve_check_retprobe(struct uprobe_tracer *t, struct elf_file *f, uint64_t off, bool force)
{
	const struct elf_sym *sym;
	uint64_t vaddr;

	if (elf_off_to_vaddr(f, off, &vaddr) == 0) {
		sym = elf_sym_containing(f, vaddr);
		if (sym && sym->vaddr != vaddr)
			return tracer_err(t, -EINVAL,
					  "%s: return probes go on a function's first instruction, "
					  "not %s+0x%llx", resolve_base_name(f->path), sym->name,
					  (unsigned long long)(vaddr - sym->vaddr));
		/*
		 * The entry point is jumped to by the kernel, not called: [rsp]
		 * holds argc, which a hijack would overwrite, and it never
		 * returns. Even opts.force does not make that a return address.
		 */
		if ((f->entry && vaddr == f->entry) || (sym && !strcmp(sym->name, "_start")))
			return tracer_err(t, -EOPNOTSUPP,
					  "%s: %s is the entry point: it is not called and never "
					  "returns ([rsp] holds argc, not a return address), so it "
					  "cannot have a return probe", resolve_base_name(f->path),
					  sym ? sym->name : "this");
		/* not even with opts.force: the hijack would overwrite the caller's data */
		if (sym && is_cold_part(sym->name))
			return tracer_err(t, -EOPNOTSUPP,
					  "%s: %s is the cold part of a function, jumped to from "
					  "its body, not called: [rsp] holds the function's data, "
					  "not a return address, so it cannot have a return probe "
					  "(probe the function itself)", resolve_base_name(f->path),
					  sym->name);
		if (sym && not_called(sym->name))
			return tracer_err(t, -EOPNOTSUPP,
					  "%s: %s is jumped to, not called: [rsp] holds no return "
					  "address there, so it cannot have a return probe",
					  resolve_base_name(f->path), sym->name);
	}
	if (force)
		return 0;
	if (f->is_go)
		return tracer_err(t, -EOPNOTSUPP,
				  "%s is a Go program: Go moves its stacks, so return probes would "
				  "break it (set opts.force to insist)", resolve_base_name(f->path));
	for (struct proc *p = t->procs; p; p = p->next)
		if (proc_plantable(p) && proc_is_go(p))
			return tracer_err(t, -EOPNOTSUPP,
					  "pid %d runs a Go program: Go moves its stacks, so return "
					  "probes would break it (set opts.force to insist)", p->pid);
	return 0;
}

/*
 * Functions that return more than once per call: each saves its return
 * address to come back through it later (setjmp, getcontext), or returns
 * in two processes on one stack (vfork). Their return probes do not
 * hijack that address (retprobe.c). glibc's names and aliases, and
 * musl's; fork returns once in each process, with its own copy of the
 * stack, and needs nothing of this.
 */
static const char *const twice_names[] = {
	"setjmp", "_setjmp", "__setjmp", "sigsetjmp", "__sigsetjmp", "savectx",
	"getcontext", "__getcontext", "vfork", "__vfork", "__libc_vfork",
};

bool resolve_returns_twice(const struct elf_file *f, uint64_t off)
{
	const struct elf_sym *sym;
	uint64_t vaddr;

	if (elf_off_to_vaddr(f, off, &vaddr) < 0)
		return false;
	sym = elf_sym_containing(f, vaddr);
	if (!sym || sym->vaddr != vaddr)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(twice_names); i++)
		if (!strcmp(sym->name, twice_names[i]))
			return true;
	return false;
}

/*
 * Is off a function's first instruction, where [rsp] holds the return
 * address that uprobe_hit_override_return() returns to? A symbol's start
 * (or the symbol the probe was added with, at offset 0: an IFUNC's
 * implementation may have no symbol of its own), never the entry point,
 * which is jumped to with argc at [rsp], nor code only jumped to
 * (not_called(), by the symbol there or the one the probe was added with).
 */
bool resolve_is_func_entry(const struct elf_file *f, uint64_t off, const char *symbol,
			  bool sym_start)
{
	const struct elf_sym *sym;
	uint64_t vaddr;

	if (elf_off_to_vaddr(f, off, &vaddr) < 0 || (f->entry && vaddr == f->entry))
		return false;
	sym = elf_sym_containing(f, vaddr);
	if ((sym && not_called(sym->name)) || not_called(symbol))
		return false;
	return sym_start || (sym && sym->vaddr == vaddr);
}

/*
 * The instruction starts of a function, decoded once from its symbol's
 * start: adding a probe at every instruction of a large function must not
 * decode it again for each one.
 */
static struct bound_cache *boundaries(struct uprobe_tracer *t, const struct elf_file *f,
				      const struct elf_sym *sym)
{
	struct bound_cache *c;
	uint64_t cur, size = sym->size;

	for (unsigned i = 0; i < ARRAY_SIZE(t->bcache); i++) {
		c = &t->bcache[i];
		if (c->f == f && c->sym_off == sym->off && c->size == size)
			return c;
	}
	c = &t->bcache[t->bcache_next++ % ARRAY_SIZE(t->bcache)];
	free(c->starts);
	memset(c, 0, sizeof(*c));
	if (sym->off >= f->size)
		return NULL;
	if (size > f->size - sym->off)
		size = f->size - sym->off;
	c->starts = calloc(size / 8 + 1, 1);
	if (!c->starts)
		return NULL;
	c->f = f;
	c->sym_off = sym->off;
	c->size = sym->size;
	for (cur = 0; cur < size;) {
		int len = arch_insn_len(f->data + sym->off + cur, f->size - sym->off - cur);

		if (len < 0)
			break;
		c->starts[cur / 8] |= 1 << (cur % 8);
		cur += len;
	}
	c->decoded = cur;
	return c;
}

void resolve_bcache_free(struct uprobe_tracer *t)
{
	for (unsigned i = 0; i < ARRAY_SIZE(t->bcache); i++) {
		free(t->bcache[i].starts);
		memset(&t->bcache[i], 0, sizeof(t->bcache[i]));
	}
}

/*
 * Is file offset off of f an instruction's start? Decoded from the start
 * of the function symbol that contains it or, when none does, from
 * start_off (UINT64_MAX: none), the start of the function the probe was
 * named by, called name: an IFUNC's implementation with no symbol of its
 * own (glibc's __strrchr_evex is just code after the resolver's), a
 * symbol of size 0. An int3 in the middle of an instruction would be
 * SIGILL or worse for the program.
 */
int resolve_check_boundary(struct uprobe_tracer *t, struct elf_file *f, uint64_t off,
			   const char *name, uint64_t start_off)
{
	const struct elf_sym *sym;
	struct elf_sym from;
	struct bound_cache *c;
	uint64_t vaddr, rel;

	if (elf_off_to_vaddr(f, off, &vaddr) < 0)
		return tracer_err(t, -EINVAL, "%s: file offset 0x%llx is not mapped by any segment",
				  resolve_base_name(f->path), (unsigned long long)off);
	sym = elf_sym_containing(f, vaddr);
	if (!sym && start_off <= off && elf_off_to_vaddr(f, start_off, &from.vaddr) == 0) {
		from.name = name;
		from.off = start_off;
		from.size = off - start_off + 1;
		sym = &from;
	}
	if (!sym) {
		pr_debug("%s: no symbol contains 0x%llx; cannot verify the instruction boundary",
			 resolve_base_name(f->path), (unsigned long long)vaddr);
		return 0;
	}
	/* a function's entry: nothing to decode (arch_analyse() still decodes it) */
	if (sym->vaddr == vaddr)
		return 0;
	c = boundaries(t, f, sym);
	if (!c)
		return tracer_err(t, -ENOMEM, "out of memory");
	rel = off - sym->off;
	if (rel >= c->decoded)
		return tracer_err(t, -ENOEXEC,
				  "%s: cannot decode %s at offset 0x%llx, before 0x%llx",
				  resolve_base_name(f->path), sym->name,
				  (unsigned long long)(sym->off + c->decoded), (unsigned long long)off);
	if (!(c->starts[rel / 8] & (1 << (rel % 8))) && sym == &from)
		return tracer_err(t, -EINVAL,
				  "offset 0x%llx is not an instruction boundary in %s (its code, "
				  "with no symbol, starts at 0x%llx)",
				  (unsigned long long)vaddr, sym->name, (unsigned long long)sym->vaddr);
	if (!(c->starts[rel / 8] & (1 << (rel % 8))))
		return tracer_err(t, -EINVAL,
				  "offset 0x%llx is not an instruction boundary in %s (0x%llx-0x%llx)",
				  (unsigned long long)vaddr, sym->name, (unsigned long long)sym->vaddr,
				  (unsigned long long)(sym->vaddr + sym->size));
	return 0;
}
