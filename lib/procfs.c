// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * /proc parsers beyond maps (maps.c): the fields of a status file, its signal
 * sets (SigCgt, SigIgn, SigPnd), the auxiliary vector.
 */
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

/* The value of field `key` ("SigPnd:") of a /proc/.../status file, or NULL. */
const char *procfs_status_field(const char *path, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *r = NULL;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	while (fgets(buf, (int)len, f)) {
		if (!strncmp(buf, key, klen)) {
			r = buf + klen;
			break;
		}
	}
	fclose(f);
	return r;
}

/* One status field's hex value in text, or false. */
bool procfs_hex_field(const char *text, const char *key, uint64_t *v)
{
	const char *at = strstr(text, key);

	if (!at)
		return false;
	*v = strtoull(at + strlen(key), NULL, 16);
	return true;
}

/* p's caught and ignored signals (SigCgt, SigIgn) from /proc/PID/status, kept open. */
int procfs_status_masks(struct proc *p, uint64_t *cgt, uint64_t *ign)
{
	char path[64], buf[4096];
	ssize_t n;

	if (!p->trap_fd1) {
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/status", p->pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		p->trap_fd1 = fd + 1;
	}
	n = pread(p->trap_fd1 - 1, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	if (!procfs_hex_field(buf, "\nSigCgt:", cgt) || !procfs_hex_field(buf, "\nSigIgn:", ign))
		return -EINVAL;
	return 0;
}

/*
 * SIGTRAP's disposition in p now (*state: TRAP_*), from /proc/PID/status
 * through a descriptor kept open: a few microseconds, so read only where a
 * reset may have happened.
 */
int procfs_sigtrap_status(struct proc *p, int *state)
{
	uint64_t cgt, ign;
	int err = procfs_status_masks(p, &cgt, &ign);

	if (err)
		return err;
	*state = cgt & SIGTRAP_BIT ? TRAP_CAUGHT : ign & SIGTRAP_BIT ? TRAP_IGN : TRAP_DFL;
	return 0;
}

/* Is a SIGTRAP pending in thread k itself (its SigPnd)? */
bool procfs_sigtrap_pending_in(const struct task *k)
{
	char path[64], buf[4096];
	uint64_t pnd;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", k->proc->pid, k->tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return procfs_hex_field(buf, "\nSigPnd:", &pnd) && (pnd & SIGTRAP_BIT);
}

int procfs_read_auxv(struct proc *p, uint64_t *base)
{
	char path[64];
	Elf64_auxv_t av;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/auxv", p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*base = 0;
	while (read(fd, &av, sizeof(av)) == sizeof(av) && av.a_type != AT_NULL) {
		if (av.a_type == AT_ENTRY)
			p->entry = av.a_un.a_val;
		else if (av.a_type == AT_HWCAP)
			p->hwcap = av.a_un.a_val;
		else if (av.a_type == AT_BASE)
			*base = av.a_un.a_val;
	}
	close(fd);
	return p->entry ? 0 : -ENOENT;
}

const char *procfs_task_status_field(struct task *k, const char *key, char *buf, size_t len)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", k->proc->pid, k->tid);
	return procfs_status_field(path, key, buf, len);
}
