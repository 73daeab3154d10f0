// SPDX-License-Identifier: LGPL-2.1-or-later
/* /proc/PID/maps parsing: one struct map_entry per line, from any FILE * (tests feed text). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Strict hex/decimal field: at least one digit, and the value must fit.
 * strtoull alone would accept signs, leading spaces and "0x".
 */
static const char *parse_num(const char *s, int base, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	for (;; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return NULL;
		v = v * base + d;
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

static const char *expect(const char *s, char c)
{
	return s && *s == c ? s + 1 : NULL;
}

/*
 * The kernel writes "start-end perms offset major:minor inode", then pads
 * with spaces and writes the name when there is one. The name is everything
 * after the padding up to the newline: it may contain spaces and end in
 * " (deleted)", and is kept as written.
 */
int maps_parse_line(const char *line, struct map_entry *e)
{
	const char *s = line;
	uint64_t major, minor;
	size_t len;

	memset(e, 0, offsetof(struct map_entry, path));
	e->path[0] = '\0';

	s = parse_num(s, 16, &e->start);
	s = expect(s, '-');
	s = s ? parse_num(s, 16, &e->end) : NULL;
	s = expect(s, ' ');
	if (!s || e->end < e->start)
		return -EINVAL;

	if ((s[0] != 'r' && s[0] != '-') || (s[1] != 'w' && s[1] != '-') ||
	    (s[2] != 'x' && s[2] != '-') || (s[3] != 'p' && s[3] != 's'))
		return -EINVAL;
	e->r = s[0] == 'r';
	e->w = s[1] == 'w';
	e->x = s[2] == 'x';
	e->p = s[3] == 'p';
	s = expect(s + 4, ' ');

	s = s ? parse_num(s, 16, &e->off) : NULL;
	s = expect(s, ' ');
	s = s ? parse_num(s, 16, &major) : NULL;
	s = expect(s, ':');
	s = s ? parse_num(s, 16, &minor) : NULL;
	s = expect(s, ' ');
	s = s ? parse_num(s, 10, &e->ino) : NULL;
	if (!s || major > UINT32_MAX || minor > UINT32_MAX)
		return -EINVAL;
	e->dev_major = major;
	e->dev_minor = minor;

	if (*s != ' ' && *s != '\n' && *s != '\0')
		return -EINVAL;
	while (*s == ' ')
		s++;
	len = strcspn(s, "\n");
	/* Anything after the newline would be a second line glued on. */
	if (s[len] == '\n' && s[len + 1] != '\0')
		return -EINVAL;
	/* A truncated path would name a different file: refuse rather than guess. */
	if (len >= sizeof(e->path))
		return -ENAMETOOLONG;
	memcpy(e->path, s, len);
	e->path[len] = '\0';
	return 0;
}

int maps_read(FILE *fp, struct map_entry **out)
{
	struct map_entry *v = NULL;
	size_t n = 0, cap = 0, linecap = 0;
	char *line = NULL;
	ssize_t got;
	int err = 0;

	errno = 0;
	while ((got = getline(&line, &linecap, fp)) > 0) {
		if (line[0] == '\n')
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct map_entry *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		err = maps_parse_line(line, &v[n]);
		if (err)
			goto out;
		n++;
	}
	if (ferror(fp)) {
		err = errno ? -errno : -EIO;
		goto out;
	}
	if (n > INT32_MAX) {
		err = -E2BIG;
		goto out;
	}
out:
	free(line);
	if (err) {
		free(v);
		*out = NULL;
		return err;
	}
	*out = v;
	return (int)n;
}

int maps_read_pid(pid_t pid, struct map_entry **out)
{
	char path[64];
	FILE *fp;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fp = fopen(path, "re");
	if (!fp) {
		/* No /proc/PID directory: the process is gone (or never was). */
		return errno == ENOENT ? -ESRCH : -errno;
	}
	ret = maps_read(fp, out);
	fclose(fp);
	return ret;
}
