// SPDX-License-Identifier: LGPL-2.1-or-later
/* Coexistence with the kernel's uprobes: what they write into a tracee's text, and when. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mech.h"

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
 * that kernel_watch() (kernel_watch.c) notices and plants again. A jump
 * detour does not: the kernel's int3 or restored byte lands on or inside
 * our jmp rel32, leaving half a jump. Detours are therefore never made
 * near code the kernel has patched or has a probe registered on
 * (kernel_probe_near(), detour_make.c), and kernel_watch() turns a detour the
 * kernel has since written into back into the int3-first layout.
 */

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
int kernel_for_each_event(int (*cb)(dev_t dev, ino_t ino, uint64_t off, void *ctx), void *ctx)
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

	return kernel_for_each_event(near_cb, &n) > 0;
}

void kernel_site_seen(struct uprobe_tracer *t, struct site *s)
{
	if (!s->kernel)
		pr_debug("%s+0x%llx: a kernel uprobe is on or near it: no jump detour, watched",
			 s->elf->path, (unsigned long long)s->off);
	s->kernel = true;
	t->kwatch = true;
}
