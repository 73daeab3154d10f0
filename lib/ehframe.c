// SPDX-License-Identifier: LGPL-2.1-or-later
/* Exception landing pads of an ELF file, from .eh_frame and the LSDAs of .gcc_except_table. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "elf_internal.h"

/*
 * ---- Exception landing pads ----
 *
 * A C++ (or -fexceptions C) function's landing pads are entered by the
 * unwinder, never by a jump, so no branch scan finds them. The way to them
 * (LSB "Exception Frames"; what libgcc's unwinder and personality read):
 * each FDE of .eh_frame whose CIE has an 'L' augmentation points to an LSDA
 * in .gcc_except_table, whose call-site table gives landing pads as offsets
 * from LPStart (by default the FDE's first address). Everything is read
 * exactly or not at all: an encoding whose value needs the running process
 * (indirect, data- or text-relative, an absolute address in a file relocated
 * at load) fails the whole file.
 */

/* Pointer encodings (DW_EH_PE_*): the low nibble is the format, 0x70 what it is relative to. */
#define PE_OMIT 0xff
#define PE_FORMAT 0x0f
#define PE_ABSPTR 0x00
#define PE_ULEB128 0x01
#define PE_UDATA2 0x02
#define PE_UDATA4 0x03
#define PE_UDATA8 0x04
#define PE_SLEB128 0x09
#define PE_SDATA2 0x0a
#define PE_SDATA4 0x0b
#define PE_SDATA8 0x0c
#define PE_APPLY 0x70
#define PE_PCREL 0x10
#define PE_FUNCREL 0x40
#define PE_INDIRECT 0x80

#define EH_LEN64 0xffffffffu /* 64-bit DWARF length: libgcc reads none in .eh_frame */

/* Bounded little-endian reads; any overrun or unknown value makes it bad for good. */
struct cursor {
	const uint8_t *p, *end;
	uint64_t vaddr; /* link-time address of *p, for pc-relative values */
	bool bad;
};

static struct cursor cursor_at(const struct elf_file *f, const struct span *sp, uint64_t pos,
			       uint64_t len)
{
	struct cursor c = { .bad = true };

	if (pos > sp->size || len > sp->size - pos)
		return c;
	c.p = f->data + sp->off + pos;
	c.end = c.p + len;
	c.vaddr = sp->vaddr + pos;
	c.bad = false;
	return c;
}

/* The next n bytes as a cursor of their own; c moves past them. */
static struct cursor cur_sub(struct cursor *c, uint64_t n)
{
	struct cursor sub = { .bad = true };

	if (c->bad || n > (uint64_t)(c->end - c->p)) {
		c->bad = true;
		return sub;
	}
	sub = (struct cursor){ .p = c->p, .end = c->p + n, .vaddr = c->vaddr };
	c->p += n;
	c->vaddr += n;
	return sub;
}

static uint64_t cur_uint(struct cursor *c, unsigned n)
{
	uint64_t v = 0;

	if (c->bad || n > (uint64_t)(c->end - c->p)) {
		c->bad = true;
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)c->p[i] << (8 * i);
	c->p += n;
	c->vaddr += n;
	return v;
}

static uint64_t cur_leb(struct cursor *c, bool sign)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		/* 10 bytes hold 64 bits; a longer one is not ours to truncate */
		if (shift >= 70) {
			c->bad = true;
			return 0;
		}
		b = (uint8_t)cur_uint(c, 1);
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while ((b & 0x80) && !c->bad);
	if (sign && shift < 64 && (b & 0x40))
		v |= ~0ull << shift;
	return c->bad ? 0 : v;
}

/* The raw value of an encoded pointer (format only), sign-extended where signed. */
static uint64_t cur_format(struct cursor *c, uint8_t enc)
{
	switch (enc & PE_FORMAT) {
	case PE_ABSPTR:
	case PE_UDATA8:
	case PE_SDATA8:
		return cur_uint(c, 8);
	case PE_UDATA2:
		return cur_uint(c, 2);
	case PE_SDATA2:
		return (uint64_t)(int64_t)(int16_t)cur_uint(c, 2);
	case PE_UDATA4:
		return cur_uint(c, 4);
	case PE_SDATA4:
		return (uint64_t)(int64_t)(int32_t)cur_uint(c, 4);
	case PE_ULEB128:
		return cur_leb(c, false);
	case PE_SLEB128:
		return cur_leb(c, true);
	default:
		c->bad = true;
		return 0;
	}
}

/*
 * An encoded address, as libgcc computes it: a raw zero stays zero ("none"),
 * otherwise the base is added. Only bases known from the file are: the
 * field's own address, the function's start (func, 0 where there is none),
 * or nothing in a file loaded where it was linked. Data- and text-relative
 * bases are left 0 by libgcc on x86-64, so a producer using them means
 * something else; an indirect pointer is filled by the dynamic linker.
 */
static uint64_t cur_addr(struct cursor *c, uint8_t enc, uint64_t func, bool pie)
{
	uint64_t at = c->vaddr, v;

	if (enc & PE_INDIRECT) {
		c->bad = true;
		return 0;
	}
	v = cur_format(c, enc);
	if (c->bad || !v)
		return 0;
	switch (enc & PE_APPLY) {
	case PE_ABSPTR:
		if (pie)
			c->bad = true;
		return v;
	case PE_PCREL:
		return at + v;
	case PE_FUNCREL:
		if (!func)
			c->bad = true;
		return func + v;
	default:
		c->bad = true;
		return 0;
	}
}

struct cie {
	uint8_t fde_enc;  /* 'R': how its FDEs encode their addresses */
	uint8_t lsda_enc; /* 'L': how they point to their LSDA; PE_OMIT none */
	bool aug_data;    /* 'z': its FDEs carry augmentation data */
};

/* The CIE at pos of .eh_frame. 0 or -ENOEXEC. */
static int read_cie(const struct elf_priv *p, uint64_t pos, struct cie *cie)
{
	const struct elf_file *f = &p->f;
	struct cursor c = cursor_at(f, &p->eh_frame, pos, 4), aug;
	uint64_t len = cur_uint(&c, 4);
	const char *str;
	uint8_t version, enc;
	size_t slen;

	if (c.bad || !len || len == EH_LEN64)
		return -ENOEXEC;
	c = cursor_at(f, &p->eh_frame, pos + 4, len);
	if (cur_uint(&c, 4) != 0)
		return -ENOEXEC; /* an FDE pointing to an FDE */
	version = (uint8_t)cur_uint(&c, 1);
	if (c.bad || (version != 1 && version != 3))
		return -ENOEXEC;
	str = (const char *)c.p;
	if (!memchr(str, '\0', c.end - c.p))
		return -ENOEXEC;
	slen = strlen(str);
	cur_sub(&c, slen + 1);
	cur_leb(&c, false);			/* code alignment */
	cur_leb(&c, true);			/* data alignment */
	if (version == 1)
		cur_uint(&c, 1);		/* return address register */
	else
		cur_leb(&c, false);
	*cie = (struct cie){ .fde_enc = PE_ABSPTR, .lsda_enc = PE_OMIT };
	/* without 'z' the layout of what letters add is unknown ("eh" of old GCCs) */
	if (!*str)
		return c.bad ? -ENOEXEC : 0;
	if (*str != 'z')
		return -ENOEXEC;
	cie->aug_data = true;
	aug = cur_sub(&c, cur_leb(&c, false));
	for (str++; *str && !aug.bad; str++) {
		switch (*str) {
		case 'L':
			cie->lsda_enc = (uint8_t)cur_uint(&aug, 1);
			break;
		case 'R':
			cie->fde_enc = (uint8_t)cur_uint(&aug, 1);
			break;
		case 'P':
			/* the personality routine: only its size matters here */
			enc = (uint8_t)cur_uint(&aug, 1);
			if ((enc & PE_APPLY) > PE_FUNCREL)
				aug.bad = true; /* aligned: padding we would have to place */
			cur_format(&aug, enc);
			break;
		case 'S': /* signal frame */
		case 'B': /* AArch64 B key, G MTE tags: no data */
		case 'G':
			break;
		default:
			/*
			 * libgcc stops reading the letters here and ignores
			 * the rest, 'L' included: we cannot tell which it meant.
			 */
			return -ENOEXEC;
		}
	}
	return c.bad || aug.bad ? -ENOEXEC : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct pad_vec {
	uint64_t *v;
	size_t n, cap;
};

static int push_pad(const struct elf_file *f, struct pad_vec *pv, uint64_t vaddr)
{
	uint64_t off;

	/* the unwinder would jump there: it must be code of this file */
	if (elf_vaddr_to_off(f, vaddr, &off) || !elf_exec_seg_at_off(f, off))
		return -ENOEXEC;
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 256;
		uint64_t *v = reallocarray(pv->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		pv->v = v;
		pv->cap = cap;
	}
	pv->v[pv->n++] = off;
	return 0;
}

/*
 * The landing pads of the LSDA at vaddr, for the FDE of [func, func + range).
 * Its layout is the one GCC's and LLVM's personalities share: LPStart,
 * the type table's offset, then the call-site table.
 */
static int read_lsda(const struct elf_priv *p, uint64_t vaddr, uint64_t func, uint64_t range,
		     struct pad_vec *pv)
{
	const struct elf_file *f = &p->f;
	const struct span *ex = &p->except;
	struct cursor c, table;
	uint64_t lpstart = func;
	uint8_t enc;
	int err;

	/* anywhere else, it might be some other personality's format */
	if (vaddr < ex->vaddr || vaddr - ex->vaddr >= ex->size)
		return -ENOEXEC;
	c = cursor_at(f, ex, vaddr - ex->vaddr, ex->size - (vaddr - ex->vaddr));
	enc = (uint8_t)cur_uint(&c, 1);
	if (enc != PE_OMIT) {
		lpstart = cur_addr(&c, enc, func, f->pie);
		/* zero: landing pads are absolute, which only a file loaded where linked can have */
		if (!lpstart && f->pie)
			return -ENOEXEC;
	}
	if ((uint8_t)cur_uint(&c, 1) != PE_OMIT)
		cur_leb(&c, false); /* TType: catch clauses' types, not needed */
	enc = (uint8_t)cur_uint(&c, 1);
	/* call-site values are offsets, read with no base at all */
	if (enc & (PE_APPLY | PE_INDIRECT))
		return -ENOEXEC;
	table = cur_sub(&c, cur_leb(&c, false));
	if (c.bad)
		return -ENOEXEC;
	while (table.p < table.end) {
		uint64_t start = cur_format(&table, enc);
		uint64_t len = cur_format(&table, enc);
		uint64_t lp = cur_format(&table, enc);

		cur_leb(&table, false); /* action */
		if (table.bad)
			return -ENOEXEC;
		/* call sites outside the FDE: not the table we think it is */
		if (start > range || len > range - start)
			return -ENOEXEC;
		if (lp) {
			err = push_pad(f, pv, lpstart + lp);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Every FDE of .eh_frame with an LSDA. */
static int walk_eh_frame(const struct elf_priv *p, struct pad_vec *pv)
{
	const struct elf_file *f = &p->f;
	const struct span *eh = &p->eh_frame;
	uint64_t pos, next;
	int err = 0;

	for (pos = 0; pos < eh->size && !err; pos = next) {
		struct cursor c = cursor_at(f, eh, pos, 4), aug = { .bad = true };
		uint64_t len = cur_uint(&c, 4), id, pc, range, lsda = 0;
		struct cie cie;

		if (c.bad || len == EH_LEN64 || len > eh->size - pos - 4) {
			err = -ENOEXEC;
			break;
		}
		next = pos + 4 + len;
		/*
		 * A zero terminator (crtend.o's) need not be the last entry:
		 * the unwinder finds FDEs through .eh_frame_hdr's table, past it.
		 */
		if (!len)
			continue;
		c = cursor_at(f, eh, pos + 4, len);
		id = cur_uint(&c, 4);
		if (c.bad) {
			err = -ENOEXEC;
			break;
		}
		if (!id)
			continue; /* a CIE, read when an FDE names it */
		if (id > pos + 4 || read_cie(p, pos + 4 - id, &cie)) {
			err = -ENOEXEC;
			break;
		}
		pc = cur_addr(&c, cie.fde_enc, 0, f->pie);
		/* a length: the format alone */
		range = cur_format(&c, cie.fde_enc & PE_FORMAT);
		if (cie.aug_data) {
			aug = cur_sub(&c, cur_leb(&c, false));
			if (cie.lsda_enc != PE_OMIT)
				lsda = cur_addr(&aug, cie.lsda_enc, pc, f->pie);
			if (aug.bad)
				c.bad = true;
		}
		if (c.bad)
			err = -ENOEXEC;
		/* pc 0: the linker dropped its code (like libgcc, skip it) */
		else if (pc && lsda)
			err = read_lsda(p, lsda, pc, range, pv);
	}
	if (err == -ENOEXEC)
		pr_debug("%s: exception data not understood (.eh_frame+0x%llx): landing pads unknown",
			 f->path, (unsigned long long)pos);
	return err;
}

static bool span_ok(const struct elf_file *f, const struct span *sp)
{
	uint64_t off;

	/* pc-relative values need the link-time address of the bytes we read */
	return sp->off <= f->size && sp->size <= f->size - sp->off &&
	       !elf_vaddr_to_off(f, sp->vaddr, &off) && off == sp->off;
}

static int find_pads(struct elf_priv *p)
{
	struct elf_file *f = &p->f;
	struct pad_vec pv = {};
	size_t n = 0;
	int err;

	/*
	 * Without section headers there are no symbols, hence no detours:
	 * not worth finding .eh_frame through PT_GNU_EH_FRAME.
	 */
	if (p->no_shdrs)
		return -ENOEXEC;
	if (!p->eh_frame.size)
		return f->has_lsda ? -ENOEXEC : 0; /* .debug_frame at most: never unwound through */
	if (!span_ok(f, &p->eh_frame) || (p->except.size && !span_ok(f, &p->except)))
		return -ENOEXEC;
	err = walk_eh_frame(p, &pv);
	if (err) {
		free(pv.v);
		return err;
	}
	if (pv.n) /* qsort's array may not be NULL, even empty */
		qsort(pv.v, pv.n, sizeof(*pv.v), cmp_u64);
	for (size_t i = 0; i < pv.n; i++)
		if (!n || pv.v[n - 1] != pv.v[i])
			pv.v[n++] = pv.v[i];
	f->pads = pv.v;
	f->npads = n;
	return 0;
}

int elf_landing_pads(struct elf_file *f)
{
	struct elf_priv *p = container_of(f, struct elf_priv, f);

	pthread_mutex_lock(&elf_lazy_lock);
	if (!f->pads_done) {
		f->pads_err = find_pads(p);
		f->pads_done = true;
	}
	pthread_mutex_unlock(&elf_lazy_lock);
	return f->pads_err;
}
