// SPDX-License-Identifier: LGPL-2.1-or-later
/* Separate debug files of an ELF file: by build id, by .gnu_debuglink, or MiniDebugInfo. */
#include <fcntl.h>
#include <limits.h>
#include <lzma.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "elf_internal.h"

/* ---- Separate debug files, found as gdb finds them ---- */

#define DEBUG_ROOT "/usr/lib/debug"

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* CRC-32 (IEEE, reflected), as gdb and objcopy --add-gnu-debuglink compute it. */
static uint32_t crc32_of(const uint8_t *buf, size_t len)
{
	uint32_t crc = 0xffffffffu;

	pthread_once(&crc_once, crc_init);
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/*
 * The debug file at path for `of`, or NULL: a regular file other than `of`
 * itself, whose build id (by_id) or CRC-32 (not by_id) matches what `of`
 * says, as gdb checks before trusting it.
 */
static struct elf_priv *try_debug(const struct elf_priv *of, const char *path, bool by_id)
{
	struct elf_priv *d = NULL;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (st.st_dev == of->f.dev && st.st_ino == of->f.ino) ||
	    elf_load(path, fd, &st, &of->f, &d, NULL, 0))
		goto out;
	if (by_id ? d->build_id_len != of->build_id_len ||
			    memcmp(d->build_id, of->build_id, of->build_id_len)
		  : crc32_of(d->f.data, d->f.size) != of->debuglink_crc) {
		pr_debug("%s: %s does not match it", of->f.path, path);
		elf_free(&d->f);
		d = NULL;
	}
out:
	close(fd);
	return d;
}

/* The most a MiniDebugInfo may decompress to: symbols, not a whole debug file. */
#define MINIDEBUG_MAX (64u << 20)

/*
 * MiniDebugInfo (Fedora's, and others'): .gnu_debugdata holds an
 * xz-compressed ELF file with the .symtab that stripping removed (the
 * functions .dynsym lacks). Decompressed into a memfd, it is loaded as a
 * debug file; its symbols are the file's own, so no identity is checked.
 */
static struct elf_priv *mini_debug(const struct elf_priv *p)
{
	const struct span *dd = &p->debugdata;
	uint64_t memlimit = MINIDEBUG_MAX;
	size_t in_pos = 0, out_pos = 0, cap = 0;
	struct elf_priv *d = NULL;
	uint8_t *out = NULL, *more;
	char label[PATH_MAX];
	struct stat st;
	lzma_ret ret;
	int fd;

	if (!dd->size || dd->off > p->f.size || dd->size > p->f.size - dd->off)
		return NULL;
	do {
		cap = cap ? cap * 2 : (size_t)dd->size * 4 + 4096;
		if (cap > MINIDEBUG_MAX)
			cap = MINIDEBUG_MAX;
		more = realloc(out, cap);
		if (!more)
			goto out;
		out = more;
		in_pos = 0;
		out_pos = 0;
		ret = lzma_stream_buffer_decode(&memlimit, 0, NULL, p->f.data + dd->off, &in_pos,
						dd->size, out, &out_pos, cap);
	} while (ret == LZMA_BUF_ERROR && cap < MINIDEBUG_MAX);
	if (ret != LZMA_OK) {
		pr_debug("%s: .gnu_debugdata: not a MiniDebugInfo xz stream (%d)", p->f.path, ret);
		goto out;
	}
	fd = memfd_create("libuprobe-minidebuginfo", MFD_CLOEXEC);
	if (fd < 0)
		goto out;
	snprintf(label, sizeof(label), "%s (.gnu_debugdata)", p->f.path);
	if (write(fd, out, out_pos) == (ssize_t)out_pos && fstat(fd, &st) == 0 &&
	    elf_load(label, fd, &st, &p->f, &d, NULL, 0) == 0 && !d->f.has_symtab) {
		elf_free(&d->f);
		d = NULL;
	}
	close(fd);
out:
	free(out);
	return d;
}

static struct elf_priv *find_debug(const struct elf_priv *p)
{
	const char *slash = strrchr(p->f.path, '/');
	struct elf_priv *d = NULL;
	char path[PATH_MAX];
	int dirlen = slash ? (int)(slash - p->f.path) : 0;

	if (p->build_id_len >= 2) {
		int n = snprintf(path, sizeof(path), DEBUG_ROOT "/.build-id/%02x/", p->build_id[0]);

		for (size_t i = 1; i < p->build_id_len && n < (int)sizeof(path) - 3; i++)
			n += snprintf(path + n, sizeof(path) - n, "%02x", p->build_id[i]);
		snprintf(path + n, sizeof(path) - n, ".debug");
		d = try_debug(p, path, true);
	}
	if (!d && !p->debuglink)
		return mini_debug(p);
	if (d)
		return d;
	/* the file's own directory, its .debug/, and that directory under the debug root */
	if ((size_t)snprintf(path, sizeof(path), "%.*s/%s", dirlen, p->f.path, p->debuglink) <
	    sizeof(path))
		d = try_debug(p, path, false);
	if (!d && (size_t)snprintf(path, sizeof(path), "%.*s/.debug/%s", dirlen, p->f.path,
				   p->debuglink) < sizeof(path))
		d = try_debug(p, path, false);
	if (!d && (size_t)snprintf(path, sizeof(path), DEBUG_ROOT "%.*s/%s", dirlen, p->f.path,
				   p->debuglink) < sizeof(path))
		d = try_debug(p, path, false);
	/* no separate debug file: the one inside it, if any */
	return d ? d : mini_debug(p);
}

const struct elf_file *elf_debug_file(struct elf_file *f)
{
	struct elf_priv *p = container_of(f, struct elf_priv, f);
	struct elf_priv *d;

	pthread_mutex_lock(&elf_lazy_lock);
	if (!p->debug_done) {
		d = find_debug(p);
		p->debug = d ? &d->f : NULL;
		p->debug_done = true;
		if (d)
			pr_debug("%s: symbols from %s", f->path, d->f.path);
	}
	pthread_mutex_unlock(&elf_lazy_lock);
	return p->debug;
}
