// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel's uprobes over time (kernel.c says what they do to our text):
 * sites on a page tracefs lists one on are marked, an int3 of ours the
 * kernel's removal restored away is planted again, a jump detour it wrote
 * into goes back to an int3 (detour.c). Above detour.c; detour_make.c asks
 * kernel.c before it makes one.
 */
#include "mech.h"

#define KWATCH_NS (20 * 1000000ull)

/* Sites on a page that tracefs lists a kernel probe on are marked (and their detours go). */
static int mark_cb(dev_t dev, ino_t ino, uint64_t off, void *ctx)
{
	struct uprobe_tracer *t = ctx;

	for (struct site *s = site_iter(t, NULL); s; s = site_iter(t, s))
		if (!s->kernel && s->elf->dev == dev && s->elf->ino == ino &&
		    (s->off & ~(uint64_t)(KERNEL_PAGE - 1)) == (off & ~(uint64_t)(KERNEL_PAGE - 1)))
			kernel_site_seen(t, s);
	return 0;
}

/*
 * One breakpoint of p: our int3 still there (planted again if the kernel's
 * restore removed it), our jmp still whole (back to an int3-first layout
 * if the kernel wrote into it).
 */
static void check_bp(struct proc *p, struct bp *b)
{
	static const uint8_t int3 = ARCH_INT3;
	const struct site *s = b->site;
	uint8_t byte;

	if (mem_read(p, b->vaddr, &byte, 1))
		return;
	if (detour_on(b)) {
		if (byte == ARCH_JMP_OPCODE && !s->kernel)
			return;
		/*
		 * The kernel's int3 over our jmp's opcode (or, too late, its
		 * restored byte), or a kernel probe registered near it: the
		 * file's bytes behind an int3 make every later kernel step
		 * leave a whole instruction.
		 */
		mem_write(p, b->vaddr, &int3, 1);
		mem_write(p, b->vaddr + 1, s->elf->data + s->off + 1, s->detour_len - 1u);
		detour_forget(p, b);
		pr_debug("pid %d: 0x%llx: the kernel wrote into our jump detour (0x%02x): int3 again",
			 p->pid, (unsigned long long)b->vaddr, byte);
		return;
	}
	/*
	 * An int3 (ours, or the kernel's over it) is what it should be; a
	 * kernel's optimized call (6.18, over a nop5) goes back to the nop
	 * through an int3 on its removal, and is left alone meanwhile.
	 */
	if (byte == ARCH_INT3)
		return;
	/* the kernel's restore: the file's byte where our int3 was */
	if (byte == s->plan.bytes[0]) {
		mem_write(p, b->vaddr, &int3, 1);
		pr_debug("pid %d: 0x%llx: our int3 was restored away (by a kernel uprobe's removal): "
			 "planted again", p->pid, (unsigned long long)b->vaddr);
	}
}

void kernel_watch(struct uprobe_tracer *t)
{
	uint64_t now = mono_ns();

	if (!t->kwatch || now - t->kwatch_last < KWATCH_NS)
		return;
	t->kwatch_last = now;
	kernel_for_each_event(mark_cb, t);
	for (struct proc *p = t->procs; p; p = p->next) {
		if (p->mm_owner || p->fork_child || !p->at_entry || p->inline_mode)
			continue;
		for (size_t i = 0; i < p->bps.cap; i++) {
			struct bp *b = &p->bps.slots[i];

			if (!b->vaddr || b->site == BP_TOMB || b->retired || b->internal)
				continue;
			if (b->site->kernel || detour_on(b))
				check_bp(p, b);
		}
	}
}
