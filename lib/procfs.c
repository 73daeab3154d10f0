// SPDX-License-Identifier: LGPL-2.1-or-later
/* /proc parsers beyond maps (maps.c): the fields of a status file, the auxiliary vector. */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

/* The value of field `key` ("SigPnd:") of a /proc/.../status file, or NULL. */
const char *status_field(const char *path, const char *key, char *buf, size_t len)
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

int read_auxv(struct proc *p, uint64_t *base)
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
