// SPDX-License-Identifier: LGPL-2.1-or-later
/* Coexistence with the kernel's uprobes: what they write into a tracee's text, and when. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

/*
 * The kernel's uprobes (tracefs uprobe_events, perf probe, bpftrace, BPF
 * agents) patch the same text as we do, without knowing of us. What they
 * do, per probed (inode, offset), in every private file mapping that may
 * be executable (VM_MAYEXEC and not VM_MAYSHARE: any MAP_PRIVATE mapping
 * of a file on an exec mount, whatever its protection):
 *
 *   register  writes int3 at the offset, unless the byte there is an int3
 *             already (then nothing is written);
 *   hit       the kernel finds its probe by (inode, offset) and takes the
 *             trap itself: its handlers, then the file's instruction run
 *             out of line or emulated, and the thread goes on after it. An
 *             int3 of ours on the same byte is never reported to us;
 *   remove    writes the file's byte back, but only if the byte there is
 *             an int3 (whoever's);
 *   nop5      (6.18) a probe on a 5-byte nop is rewritten after its first
 *             hit into a call to a trampoline, through an int3 first, and
 *             back to the nop through an int3 on removal.
 *
 * So an int3-first layout (ours: int3 over the first byte, the file's
 * bytes after it) survives every step: at worst the kernel's restore
 * removes our int3 and the thread runs the file's instruction, a lost hit
 * that kernel_watch() notices and plants again. A jump detour does not:
 * the kernel's int3 or restored byte lands on or inside our jmp rel32,
 * leaving half a jump. Detours are therefore never made near code the
 * kernel has patched or has a probe registered on (kernel_probe_near(),
 * detour.c), and kernel_watch() turns a detour the kernel has since
 * written into back into the int3-first layout.
 */

#define KWATCH_NS (20 * 1000000ull)

static const char *const events_paths[] = {
	"/sys/kernel/tracing/uprobe_events",
	"/sys/kernel/debug/tracing/uprobe_events",
};

/*
 * Calls cb for each probe of tracefs's uprobe_events ("p:grp/ev PATH:0xOFF
 * args", "r:..."), with the file's (dev, ino) and the offset. Only what
 * tracefs shows: probes made through perf_event_open or BPF links are not
 * listed anywhere we can read. 0, or -errno when the list cannot be read
 * (not root, no tracefs).
 */
static int event_line(char *line, int (*cb)(dev_t dev, ino_t ino, uint64_t off, void *ctx),
		      void *ctx)
{
	char *path, *colon, *end;
	struct stat st;
	uint64_t off;

	if (line[0] != 'p' && line[0] != 'r')
		return 0;
	path = strchr(line, ' ');
	if (!path)
		return 0;
	path++;
	end = path + strcspn(path, " ");
	*end = '\0';
	/* the offset follows the last colon; a path may hold colons */
	colon = strrchr(path, ':');
	if (!colon)
		return 0;
	*colon = '\0';
	off = strtoull(colon + 1, NULL, 0);
	if (stat(path, &st))
		return 0;
	return cb(st.st_dev, st.st_ino, off, ctx);
}

/*
 * Read with read(2) into a buffer of our own: this runs at every watch tick
 * (kernel_watch()), where the return-probe path promises no allocation.
 */
static int for_each_event(int (*cb)(dev_t dev, ino_t ino, uint64_t off, void *ctx), void *ctx)
{
	char buf[8192];
	size_t have = 0;
	int fd = -1, ret = 0;

	for (size_t i = 0; i < ARRAY_SIZE(events_paths) && fd < 0; i++)
		fd = open(events_paths[i], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *line = buf, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		while (!ret && (nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			*nl = '\0';
			ret = event_line(line, cb, ctx);
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (ret)
			break;
		if (have == sizeof(buf) - 1)
			have = 0; /* a line longer than the buffer: not an event we can use */
	}
	if (!ret && have) {
		buf[have] = '\0';
		ret = event_line(buf, cb, ctx);
	}
	close(fd);
	return ret;
}

struct near_ctx {
	const struct elf_file *f;
	uint64_t lo, hi;
};

static int near_cb(dev_t dev, ino_t ino, uint64_t off, void *ctx)
{
	struct near_ctx *n = ctx;

	return dev == n->f->dev && ino == n->f->ino && off >= n->lo && off < n->hi;
}

bool kernel_probe_near(const struct elf_file *f, uint64_t lo, uint64_t hi)
{
	struct near_ctx n = { .f = f, .lo = lo, .hi = hi };

	return for_each_event(near_cb, &n) > 0;
}

void kernel_site_seen(struct uprobe_tracer *t, struct site *s)
{
	if (!s->kernel)
		pr_debug("%s+0x%llx: a kernel uprobe is on or near it: no jump detour, watched",
			 s->elf->path, (unsigned long long)s->off);
	s->kernel = true;
	t->kwatch = true;
}

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
	for_each_event(mark_cb, t);
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
