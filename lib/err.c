// SPDX-License-Identifier: LGPL-2.1-or-later
/* Errors: tracer_err() sets the message uprobe_tracer_errmsg() returns, logs it, sets errno. */
#include <stdarg.h>
#include <stdio.h>

#include "core.h"

int tracer_err(struct uprobe_tracer *t, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->errmsg, sizeof(t->errmsg), fmt, ap);
	va_end(ap);
	uprobe_log(UPROBE_INFO, "libuprobe: %s\n", t->errmsg);
	errno = -err;
	return err;
}
