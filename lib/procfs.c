// SPDX-License-Identifier: LGPL-2.1-or-later
/* /proc text parsers beyond maps (maps.c): the fields of a status file. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

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
