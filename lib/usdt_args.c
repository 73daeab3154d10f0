// SPDX-License-Identifier: LGPL-2.1-or-later
/* USDT argument specs: the operands <sys/sdt.h> writes into .note.stapsdt, parsed once. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/user.h>

#include "internal.h"

#define REGW(r) ((uint8_t)(offsetof(struct user_regs_struct, r) / 8))
#define USDT_RIP 0xfe /* a base register: rip-relative, resolved to a biased symbol address */

/*
 * Every general register name gcc and clang write in AT&T syntax, with its
 * width: the sdt.h "nor" constraint lets the compiler pick any of them, in
 * the operand's own size (a char in %sil, %r9b or %ah).
 */
static const struct usdt_reg {
	const char *name;
	uint8_t reg, width, shift;
} usdt_regs[] = {
	{ "rax", REGW(rax), 8, 0 }, { "eax", REGW(rax), 4, 0 }, { "ax", REGW(rax), 2, 0 },
	{ "al", REGW(rax), 1, 0 },  { "ah", REGW(rax), 1, 8 },
	{ "rbx", REGW(rbx), 8, 0 }, { "ebx", REGW(rbx), 4, 0 }, { "bx", REGW(rbx), 2, 0 },
	{ "bl", REGW(rbx), 1, 0 },  { "bh", REGW(rbx), 1, 8 },
	{ "rcx", REGW(rcx), 8, 0 }, { "ecx", REGW(rcx), 4, 0 }, { "cx", REGW(rcx), 2, 0 },
	{ "cl", REGW(rcx), 1, 0 },  { "ch", REGW(rcx), 1, 8 },
	{ "rdx", REGW(rdx), 8, 0 }, { "edx", REGW(rdx), 4, 0 }, { "dx", REGW(rdx), 2, 0 },
	{ "dl", REGW(rdx), 1, 0 },  { "dh", REGW(rdx), 1, 8 },
	{ "rsi", REGW(rsi), 8, 0 }, { "esi", REGW(rsi), 4, 0 }, { "si", REGW(rsi), 2, 0 },
	{ "sil", REGW(rsi), 1, 0 },
	{ "rdi", REGW(rdi), 8, 0 }, { "edi", REGW(rdi), 4, 0 }, { "di", REGW(rdi), 2, 0 },
	{ "dil", REGW(rdi), 1, 0 },
	{ "rbp", REGW(rbp), 8, 0 }, { "ebp", REGW(rbp), 4, 0 }, { "bp", REGW(rbp), 2, 0 },
	{ "bpl", REGW(rbp), 1, 0 },
	{ "rsp", REGW(rsp), 8, 0 }, { "esp", REGW(rsp), 4, 0 }, { "sp", REGW(rsp), 2, 0 },
	{ "spl", REGW(rsp), 1, 0 },
#define RN(n) { "r" #n, REGW(r##n), 8, 0 }, { "r" #n "d", REGW(r##n), 4, 0 }, \
	      { "r" #n "w", REGW(r##n), 2, 0 }, { "r" #n "b", REGW(r##n), 1, 0 }, \
	      { "r" #n "l", REGW(r##n), 1, 0 }
	RN(8), RN(9), RN(10), RN(11), RN(12), RN(13), RN(14), RN(15),
#undef RN
};

/* "%name" at *s: the register, its end in *end. NULL if no such register. */
static const struct usdt_reg *parse_reg(const char *s, const char **end, bool *rip)
{
	char name[8];
	size_t n = 0;

	*rip = false;
	if (*s != '%')
		return NULL;
	s++;
	while (isalnum((unsigned char)s[n]) && n < sizeof(name) - 1) {
		name[n] = (char)tolower((unsigned char)s[n]);
		n++;
	}
	name[n] = 0;
	*end = s + n;
	if (!strcmp(name, "rip")) {
		*rip = true;
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(usdt_regs); i++)
		if (!strcmp(usdt_regs[i].name, name))
			return &usdt_regs[i];
	return NULL;
}

static bool sym_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == '.' || c == '$' ||
	       (!first && (isdigit((unsigned char)c) || c == '@'));
}

/* A number (decimal, 0x hex, a leading - or +): true and *end past it. */
static bool parse_num(const char *s, const char **end, int64_t *v)
{
	char *e;

	if (!isdigit((unsigned char)s[0]) &&
	    !((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1])))
		return false;
	errno = 0;
	if (s[0] == '-')
		*v = strtoll(s, &e, 0);
	else
		*v = (int64_t)strtoull(s, &e, 0);
	if (errno || e == s)
		return false;
	*end = e;
	return true;
}

struct parse_ctx {
	usdt_sym_fn sym;
	void *ctx;
	bool pie;
	const char *why; /* what was wrong with the spec */
	int err;
};

/*
 * A displacement: a number, or symbol[+-number] (resolved to its address,
 * *is_sym then true). Empty is 0. false with c->why set on a bad one.
 */
static bool parse_disp(struct parse_ctx *c, const char **sp, int64_t *disp, bool *is_sym)
{
	const char *s = *sp, *e;
	char name[256];
	size_t n = 0;
	uint64_t addr;
	int64_t add = 0;

	*disp = 0;
	*is_sym = false;
	if (parse_num(s, &e, disp)) {
		*sp = e;
		return true;
	}
	if (!sym_char(*s, true))
		return true; /* none */
	while (sym_char(s[n], n == 0)) {
		if (n == sizeof(name) - 1) {
			c->why = "symbol name too long";
			return false;
		}
		name[n] = s[n];
		n++;
	}
	name[n] = 0;
	s += n;
	if ((*s == '+' || *s == '-') && !parse_num(s, &s, &add)) {
		c->why = "bad offset after the symbol";
		return false;
	}
	if (!c->sym || c->sym(c->ctx, name, &addr) < 0) {
		c->why = "unknown symbol (a stripped file?)";
		c->err = -ENOENT;
		return false;
	}
	*disp = (int64_t)(addr + (uint64_t)add);
	*is_sym = true;
	*sp = s;
	return true;
}

/* "(base,index,scale)" at *sp, base and index may be empty. */
static bool parse_mem(struct parse_ctx *c, const char **sp, struct usdt_arg *a)
{
	const char *s = *sp + 1;
	const struct usdt_reg *r;
	bool rip;
	int64_t scale;

	a->base = a->index = USDT_NO_REG;
	a->scale = 1;
	if (*s == '%') {
		r = parse_reg(s, &s, &rip);
		if (rip) {
			a->base = USDT_RIP;
		} else if (r && r->width == 8) {
			a->base = r->reg;
		} else {
			c->why = r ? "a base register must be 64-bit" : "unknown base register";
			return false;
		}
	}
	if (*s == ',') {
		s++;
		r = parse_reg(s, &s, &rip);
		if (!r || r->width != 8 || r->reg == REGW(rsp) || a->base == USDT_RIP) {
			c->why = "bad index register";
			return false;
		}
		a->index = r->reg;
		if (*s == ',') {
			s++;
			if (!parse_num(s, &s, &scale) ||
			    (scale != 1 && scale != 2 && scale != 4 && scale != 8)) {
				c->why = "scale must be 1, 2, 4 or 8";
				return false;
			}
			a->scale = (uint8_t)scale;
		}
	}
	if (*s != ')' || (a->base == USDT_NO_REG && a->index == USDT_NO_REG)) {
		c->why = "bad memory operand";
		return false;
	}
	*sp = s + 1;
	return true;
}

static bool parse_operand(struct parse_ctx *c, const char *s, const char *end, struct usdt_arg *a)
{
	const struct usdt_reg *r;
	bool rip, is_sym;

	if (*s == '%') {
		r = parse_reg(s, &s, &rip);
		if (!r) {
			c->why = rip ? "%rip is no value" : "unknown register";
			return false;
		}
		a->kind = USDT_ARG_REG;
		a->reg = r->reg;
		a->reg_width = r->width;
		a->reg_shift = r->shift;
	} else if (*s == '$') {
		const char *start = ++s;

		a->kind = USDT_ARG_CONST;
		if (!parse_disp(c, &s, &a->disp, &is_sym))
			return false;
		if (s == start) {
			c->why = "not a constant";
			return false;
		}
		a->biased = is_sym && c->pie;
	} else {
		const char *start = s;

		a->kind = USDT_ARG_MEM;
		if (!parse_disp(c, &s, &a->disp, &is_sym))
			return false;
		if (*s == '(') {
			if (!parse_mem(c, &s, a))
				return false;
		} else if (s == start) {
			c->why = "not an operand";
			return false;
		} else {
			/* an absolute address: a symbol (non-PIC code), or a number */
			a->base = a->index = USDT_NO_REG;
			a->scale = 1;
		}
		if (a->base == USDT_RIP) {
			/*
			 * sym(%rip) is the symbol's address: the operand was never
			 * an instruction's, so a bare number there has no meaning.
			 */
			if (!is_sym) {
				c->why = "a rip-relative operand needs a symbol";
				return false;
			}
			a->base = USDT_NO_REG;
			a->biased = c->pie;
		} else {
			a->biased = is_sym && c->pie;
		}
	}
	if (s != end) {
		c->why = "unexpected characters";
		return false;
	}
	return true;
}

/* One spec of [s, end): "[-]N@operand" or a bare operand. */
static bool parse_one(struct parse_ctx *c, const char *s, const char *end, struct usdt_arg *a)
{
	const char *at = memchr(s, '@', (size_t)(end - s));
	int64_t size;
	const char *e;

	memset(a, 0, sizeof(*a));
	/* "@" inside a symbol ("foo@GLIBC") comes after a letter, never after a size */
	if (at && parse_num(s, &e, &size) && e == at) {
		if (size != 1 && size != 2 && size != 4 && size != 8 && size != -1 && size != -2 &&
		    size != -4 && size != -8) {
			c->why = "size must be 1, 2, 4 or 8, negative when signed";
			return false;
		}
		a->size = (int8_t)size;
		s = at + 1;
	}
	if (s == end) {
		c->why = "no operand";
		return false;
	}
	return parse_operand(c, s, end, a);
}

int usdt_parse_args(const char *str, struct usdt_arg *args, usdt_sym_fn sym, void *ctx, bool pie,
		    char *why, size_t whylen)
{
	struct parse_ctx c = { .sym = sym, .ctx = ctx, .pie = pie };
	const char *s = str;
	int n = 0;

	for (;;) {
		const char *end;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			return n;
		end = s;
		while (*end && *end != ' ' && *end != '\t')
			end++;
		if (n == USDT_MAX_ARGS) {
			snprintf(why, whylen, "more than %d arguments in '%s'", USDT_MAX_ARGS, str);
			return -E2BIG;
		}
		c.why = NULL;
		c.err = -EINVAL;
		if (!parse_one(&c, s, end, &args[n])) {
			snprintf(why, whylen, "cannot parse argument %d '%.*s': %s", n + 1,
				 (int)(end - s), s, c.why);
			return c.err;
		}
		n++;
		s = end;
	}
}

unsigned usdt_arg_bytes(const struct usdt_arg *arg)
{
	if (arg->size)
		return (unsigned)(arg->size < 0 ? -arg->size : arg->size);
	return arg->kind == USDT_ARG_REG ? arg->reg_width : 8;
}

int64_t usdt_arg_extend(const struct usdt_arg *arg, uint64_t raw)
{
	unsigned bits = usdt_arg_bytes(arg) * 8;
	/* no size given: the operand's own width, signed (the old sdt.h's "long" arguments) */
	bool is_signed = arg->size <= 0;

	if (bits >= 64)
		return (int64_t)raw;
	raw &= (1ull << bits) - 1;
	if (is_signed && raw >> (bits - 1))
		raw |= ~0ull << bits;
	return (int64_t)raw;
}
