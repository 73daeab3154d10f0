// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tracee memory through /proc/PID/mem: reads, and writes that reach read-only text. */
#include <unistd.h>

#include "core.h"

/*
 * /proc/PID/mem rather than process_vm_writev: a ptrace attacher's writes
 * through it are forced (FOLL_FORCE), so they reach r-x text and our r-x
 * scratch areas, and one pread/pwrite is one system call for any length.
 */
int mem_rw_raw(struct proc *mm, uint64_t addr, void *buf, size_t len, bool write)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write ? pwrite(mm->memfd, (char *)buf + done, len - done,
					   (off_t)(addr + done))
				  : pread(mm->memfd, (char *)buf + done, len - done,
					  (off_t)(addr + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += n;
	}
	return 0;
}

static int mem_rw(struct proc *p, uint64_t addr, void *buf, size_t len, bool write)
{
	struct proc *mm = proc_mm(p);
	int err;

	if (write && mm->batch)
		mem_batch_before_write(mm); /* queued writes come first */
	err = mem_rw_raw(mm, addr, buf, len, write);
	if (err)
		return err;
	if (write && mm->batch)
		mem_batch_after_write(mm, addr, buf, len);
	else if (mm->batch)
		mem_batch_overlay(mm, addr, buf, len);
	return 0;
}

int mem_read(struct proc *p, uint64_t addr, void *buf, size_t len)
{
	return mem_rw(p, addr, buf, len, false);
}

int mem_write(struct proc *p, uint64_t addr, const void *buf, size_t len)
{
	return mem_rw(p, addr, (void *)buf, len, true);
}
