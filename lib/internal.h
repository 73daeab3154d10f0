/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal declarations shared by lib/: logging, errors, opts helpers, module interfaces. */
#ifndef UPROBE_INTERNAL_H
#define UPROBE_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/user.h>
#include <time.h>

#include "uprobe.h"

/* CLOCK_MONOTONIC in nanoseconds (the vDSO: no system call). */
static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging (log.c) ---- */

__attribute__((format(printf, 2, 3))) void uprobe_log(enum uprobe_print_level level,
						       const char *fmt, ...);
#define pr_warn(fmt, ...) uprobe_log(UPROBE_WARN, "libuprobe: " fmt "\n", ##__VA_ARGS__)
#define pr_info(fmt, ...) uprobe_log(UPROBE_INFO, "libuprobe: " fmt "\n", ##__VA_ARGS__)
#define pr_debug(fmt, ...) uprobe_log(UPROBE_DEBUG, "libuprobe: " fmt "\n", ##__VA_ARGS__)

/* ---- the machine's capabilities (caps.c) ---- */

/* True when every UPROBE_CAP_* bit of cap is measured present and not turned off for tests. */
bool caps_have(unsigned cap);

/* ---- opts helpers (libbpf's pattern) ---- */

/* True when every byte of opts beyond what this library knows (up to opts->sz) is zero. */
bool log_opts_valid(const void *opts, size_t known_sz, size_t user_sz);
/* Tests only: the tracer dies here when UPROBE_TEST_DIE names this point (log.c). */
void log_die_point(const char *name);
#define OPTS_VALID(opts, type)                                                                 \
	(!(opts) || ((opts)->sz >= sizeof(size_t) &&                                            \
		     log_opts_valid((opts), offsetofend(struct type, type##__last_field), (opts)->sz)))
#define offsetofend(TYPE, FIELD) (offsetof(TYPE, FIELD) + sizeof(((TYPE *)0)->FIELD))
#define OPTS_HAS(opts, field) ((opts) && (opts)->sz >= offsetofend(typeof(*(opts)), field))
#define OPTS_GET(opts, field, fallback_value)                                                  \
	(OPTS_HAS(opts, field) ? (opts)->field : fallback_value)

/* ---- ELF (elf.c) ---- */

/* A function symbol. Addresses are link-time virtual addresses (st_value). */
struct elf_sym {
	const char *name;    /* plain name, without version */
	const char *version; /* "GLIBC_2.2.5" or NULL */
	bool default_version; /* "@@" (or unversioned) rather than "@" */
	bool ifunc;           /* STT_GNU_IFUNC: vaddr is the resolver */
	uint64_t vaddr;
	uint64_t size;
	uint64_t off; /* file offset of vaddr */
};

struct elf_seg {
	uint64_t vaddr, memsz;
	uint64_t off, filesz;
	uint32_t flags; /* PF_X | PF_W | PF_R */
};

/* A parsed ELF file, cached by (dev, ino): parsed once, never changed after. */
struct elf_file {
	char *path; /* canonical (realpath) */
	/*
	 * Unique in the process, never reused (from 1): what names this parse
	 * of the file in caches kept elsewhere (detour_rules.c), as its address
	 * may be the next file's once elf_cache_clear() freed it.
	 */
	uint64_t serial;
	dev_t dev;
	ino_t ino;
	const uint8_t *data; /* whole file, mapped read-only */
	size_t size;
	bool pie;            /* ET_DYN */
	bool is_go;          /* has a .go.buildinfo section or Go build id note */
	bool has_symtab;     /* a .symtab, not only .dynsym: every function is named */
	/*
	 * Has .gcc_except_table (exception landing pads somewhere), or no
	 * section headers to tell: what is assumed when elf_landing_pads() fails.
	 */
	bool has_lsda;
	/*
	 * Exception landing pads (the unwinder jumps to them), as file
	 * offsets, sorted and unique; made by elf_landing_pads().
	 */
	uint64_t *pads;
	size_t npads;
	int pads_err;
	bool pads_done;
	uint64_t entry;      /* e_entry (link-time vaddr) */
	char *soname;        /* DT_SONAME, the name the dynamic linker knows it by; NULL none */
	struct elf_seg *segs; /* PT_LOAD segments */
	size_t nsegs;
	struct elf_sym *syms; /* function symbols (.symtab and .dynsym merged), sorted by vaddr */
	size_t nsyms;
	struct elf_file *next; /* cache chain */
};

/*
 * Opens and parses an ELF file, or returns the cached one with the same
 * (dev, ino). 0 or -errno (-ENOENT missing, -ENOEXEC not an x86-64 ELF);
 * *why gets a message on failure.
 */
int elf_open(const char *path, struct elf_file **out, char *why, size_t whylen);
/*
 * Makes f->pads on first call, from the LSDAs that .eh_frame points to: 0,
 * or -ENOEXEC when some exception data cannot be read exactly (an unknown
 * augmentation or pointer encoding, an absolute address in a relocated file,
 * data out of bounds). Nothing is guessed: on failure f->pads is empty and
 * every landing pad is unknown. Thread-safe.
 */
int elf_landing_pads(struct elf_file *f);
/* The cached file of (dev, ino), or NULL if it was never opened. */
struct elf_file *elf_cached(dev_t dev, ino_t ino);
/*
 * f's separate debug file (found through its build id under
 * /usr/lib/debug/.build-id, then its .gnu_debuglink, and checked against
 * either), parsed once and kept with f; NULL if none. Its symbols carry
 * f's file offsets; its bytes are not f's. Thread-safe.
 */
const struct elf_file *elf_debug_file(struct elf_file *f);
/*
 * Parses an ELF image held in memory (the vDSO, copied out of a process),
 * named name in messages; not cached: the caller frees it with
 * elf_close(). 0 or -errno.
 */
int elf_open_mem(const char *name, const void *buf, size_t len, struct elf_file **out);
void elf_close(struct elf_file *f);
/* Frees every cached file. */
void elf_cache_clear(void);
/* File offset of a link-time vaddr inside a PT_LOAD segment's file image; -EINVAL if none. */
int elf_vaddr_to_off(const struct elf_file *f, uint64_t vaddr, uint64_t *off);
/* Link-time vaddr of a file offset; -EINVAL if no PT_LOAD segment maps it. */
int elf_off_to_vaddr(const struct elf_file *f, uint64_t off, uint64_t *vaddr);
/* The executable segment containing file offset off, or NULL. */
const struct elf_seg *elf_exec_seg_at_off(const struct elf_file *f, uint64_t off);
/*
 * Finds a function symbol by name: "name" (the default version if versioned,
 * or the only one), "name@@VER" or "name@VER" (that exact version).
 * NULL if none.
 */
const struct elf_sym *elf_find_sym(const struct elf_file *f, const char *name);
/* The link-time address of a defined .dynsym symbol of any type (data objects too); -ENOENT. */
int elf_dynsym_vaddr(const struct elf_file *f, const char *name, uint64_t *vaddr);
/* The function symbol whose [vaddr, vaddr+size) contains vaddr (the smallest such), or NULL. */
const struct elf_sym *elf_sym_containing(const struct elf_file *f, uint64_t vaddr);
/*
 * Calls cb for each function symbol whose name matches the fnmatch(3) pattern
 * (distinct addresses once each, preferring a default-version name). Returns
 * the number of matches or the first negative value cb returned.
 */
int elf_for_each_match(const struct elf_file *f, const char *pattern,
		       int (*cb)(const struct elf_sym *sym, void *ctx), void *ctx);

/* ---- USDT argument specs (usdt.c) ---- */

#define USDT_MAX_ARGS 12 /* <sys/sdt.h> takes at most 12 */

enum usdt_arg_kind {
	USDT_ARG_CONST, /* $imm, $sym: value */
	USDT_ARG_REG,   /* %reg */
	USDT_ARG_MEM,   /* disp(base,index,scale), sym(%rip), an absolute address */
};

#define USDT_NO_REG 0xff

/*
 * One parsed argument of a USDT probe ("-4@-20(%rbp,%rax,4)"). Registers
 * are word indexes into struct user_regs_struct. Symbols are resolved at
 * parse time to link-time addresses: with `biased`, the process's load bias
 * is added to disp (a PIE or shared library's symbol, sym(%rip)).
 */
struct usdt_arg {
	uint8_t kind;      /* enum usdt_arg_kind */
	int8_t size;       /* bytes as the spec gives them, negative when signed; 0 none given */
	uint8_t reg;       /* USDT_ARG_REG: the register */
	uint8_t reg_width; /* its width in bytes (eax: 4) */
	uint8_t reg_shift; /* 8 for ah, bh, ch, dh */
	uint8_t base, index; /* USDT_ARG_MEM: registers or USDT_NO_REG */
	uint8_t scale;
	bool biased;
	int64_t disp;      /* displacement, or the constant */
};

/* Looks a symbol up for usdt_parse_args(): its link-time address, or -ENOENT. */
typedef int (*usdt_sym_fn)(void *ctx, const char *name, uint64_t *vaddr);

/*
 * Parses a note's argument string (space-separated specs: "-4@%eax 8@$5
 * 8@foo(%rip)") into args (USDT_MAX_ARGS entries). sym (may be NULL: then
 * symbols are refused) resolves symbol operands; pie says whether symbol
 * addresses move with the load bias. Returns the number of arguments, or
 * -EINVAL with why naming the spec that could not be parsed (-ENOENT for
 * an unknown symbol, -E2BIG for more than USDT_MAX_ARGS).
 */
int usdt_parse_args(const char *str, struct usdt_arg *args, usdt_sym_fn sym, void *ctx, bool pie,
		    char *why, size_t whylen);
/*
 * Applies arg's size and sign to raw (the operand's value, memory read as
 * little-endian bytes): zero- or sign-extended to 64 bits.
 */
int64_t usdt_arg_extend(const struct usdt_arg *arg, uint64_t raw);
/* Bytes of memory an argument reads (its size, 8 when none is given). */
unsigned usdt_arg_bytes(const struct usdt_arg *arg);

/* ---- /proc/PID/maps (maps.c) ---- */

struct map_entry {
	uint64_t start, end;
	uint64_t off;
	uint32_t dev_major, dev_minor;
	uint64_t ino;
	bool r, w, x, p;
	char path[4096 - 48]; /* "" for anonymous, "[stack]", "/usr/lib/... (deleted)" kept as written */
};

/* Parses one maps line into e; 0, or -EINVAL for a malformed line. */
int maps_parse_line(const char *line, struct map_entry *e);
/* Reads every entry of a maps file; *out is malloc'd; returns the count or -errno. */
int maps_read(FILE *fp, struct map_entry **out);
/* Same for /proc/PID/maps. */
int maps_read_pid(pid_t pid, struct map_entry **out);

/* ---- /proc/PID/status (procfs.c) ---- */

const char *procfs_status_field(const char *path, const char *key, char *buf, size_t len);

/* ---- x86 instruction analysis and relocation (arch/x86/decode.c, relocate.c) ---- */

#define ARCH_MAX_INSN 15
#define ARCH_SLOT_SIZE 64 /* bytes of out-of-line code per probed instruction */

enum arch_plan_kind {
	ARCH_RELOCATE, /* run the relocated sequence in a slot; it continues in the program */
	ARCH_STEP,     /* single-step the copy in the slot, then arch_step_fixup() */
};

/*
 * What to do with one probed instruction, computed once from its bytes at
 * registration. Position-independent: targets are kept as offsets from the
 * instruction's own address, so one plan serves every mapping of the file.
 */
struct arch_plan {
	uint8_t kind;   /* enum arch_plan_kind */
	uint8_t len;    /* length of the original instruction */
	uint8_t bytes[ARCH_MAX_INSN];
	/* rip-relative memory operand: where its disp32 sits, and its target */
	uint8_t disp_pos;     /* 0: none */
	int64_t riprel_off;   /* target - insn address, for rip-relative operands */
	/* relative branch (jmp/jcc/call/loop/jrcxz): target - insn address */
	bool has_branch;
	int64_t branch_off;
	uint8_t type;   /* enum arch_insn_type, for relocation and fixups */
	uint8_t cond;   /* jcc condition (low nibble of the opcode) */
	uint8_t opcode; /* opcode byte for loop/jrcxz (e0..e3) */
	bool addr32;    /* 0x67 prefix (loop/jrcxz use ecx) */
	uint8_t reg;    /* call *%reg, jmp *%reg: the register number 0-15 */
	bool ind_reg;   /* jmp *%reg (not *mem) */
	uint8_t prefix_len; /* legacy prefixes + REX before the opcode, for rewriting */
};

enum arch_insn_type {
	ARCH_T_OTHER,    /* copied as is, then jmp back */
	ARCH_T_NOP,      /* nop family, endbr64 */
	ARCH_T_JMP,      /* jmp rel8/rel32 */
	ARCH_T_JCC,      /* jcc rel8/rel32 */
	ARCH_T_LOOP,     /* loop, loope, loopne, jrcxz/jecxz (e0..e3) */
	ARCH_T_CALL,     /* call rel32 */
	ARCH_T_CALL_REG, /* call *%reg */
	ARCH_T_CALL_MEM, /* call *mem (possibly rip-relative) */
	ARCH_T_RET,      /* ret, ret imm16 */
	ARCH_T_JMP_IND,  /* jmp *reg / *mem */
	ARCH_T_SYSCALL,  /* syscall: rcx gets the address after it */
	ARCH_T_PUSHF,    /* pushf: TF must never show in the pushed flags */
};

/*
 * What generic code asks of a plan: ARCH_T_* stays arch/x86's vocabulary. Inline, as the
 * hot path asks them on every hit.
 */

/* The plan of an instruction of unknown length (a program's entry point): stepped only. */
#define ARCH_PLAN_UNKNOWN { .kind = ARCH_RELOCATE, .type = ARCH_T_OTHER }

/* `syscall`: it may block, and writes the next address and the flags into rcx and r11. */
static inline bool arch_plan_is_syscall(const struct arch_plan *plan)
{
	return plan->type == ARCH_T_SYSCALL;
}

/* A nop (or endbr64): no effect but moving on. */
static inline bool arch_plan_is_nop(const struct arch_plan *plan)
{
	return plan->type == ARCH_T_NOP;
}

/* A return (ret, ret imm16): where it goes is on the stack. */
static inline bool arch_plan_is_return(const struct arch_plan *plan)
{
	return plan->type == ARCH_T_RET;
}

/* pushf: a single-step of it stores TF, which the program must not see. */
static inline bool arch_plan_pushes_flags(const struct arch_plan *plan)
{
	return plan->type == ARCH_T_PUSHF;
}

/*
 * Copied as is, no branch in it: run anywhere, it continues at the next instruction (or
 * faults, or stays where it was for another iteration of a rep string instruction).
 */
static inline bool arch_plan_is_copy(const struct arch_plan *plan)
{
	return plan->type == ARCH_T_OTHER || plan->type == ARCH_T_PUSHF;
}

/* Never branches: a copy or a nop, it ends at the next instruction if it ends. */
static inline bool arch_plan_falls_through(const struct arch_plan *plan)
{
	return arch_plan_is_copy(plan) || arch_plan_is_nop(plan);
}

/*
 * A step may leave it where it was: one iteration of a rep string instruction done (any
 * instruction the analysis did not classify may be one).
 */
static inline bool arch_plan_may_repeat(const struct arch_plan *plan)
{
	return plan->type == ARCH_T_OTHER;
}

/*
 * A function's first instruction, run: how many bytes it pushed (0 for a nop or a jump,
 * 8 for push %rbp), so that a post handler there still finds the return address; -1 when
 * not known.
 */
static inline int arch_plan_entry_pushed(const struct arch_plan *plan)
{
	if (plan->type == ARCH_T_NOP || plan->type == ARCH_T_JMP || plan->type == ARCH_T_JCC)
		return 0;
	if (plan->len == 1 && plan->bytes[0] == 0x55)
		return 8;
	return -1;
}

/*
 * Post handlers without a stop: nops and direct jumps only move rip, so their effect is
 * given to regs here. False (regs untouched) when the instruction needs its slot.
 */
static inline bool arch_post_emulate(const struct arch_plan *plan, uint64_t insn_addr,
				     struct user_regs_struct *regs)
{
	if (plan->kind != ARCH_RELOCATE)
		return false;
	if (plan->type == ARCH_T_NOP)
		regs->rip = insn_addr + plan->len;
	else if (plan->type == ARCH_T_JMP)
		regs->rip = insn_addr + (uint64_t)plan->branch_off;
	else
		return false;
	return true;
}

/*
 * Decodes the instruction at code[0..avail) and fills a plan.
 * 0 on success; -ENOEXEC undecodable; -EOPNOTSUPP cannot run out of line
 * (far transfers, iret, xbegin, ...); -EEXIST it is an int3.
 * why (may be NULL) receives a short reason on failure.
 */
int arch_analyse(const uint8_t *code, size_t avail, struct arch_plan *plan, char *why,
		 size_t whylen);
/* Length of the instruction at code, or -ENOEXEC. */
int arch_insn_len(const uint8_t *code, size_t avail);
/*
 * The offsets in code[0..len), decoded from its start, just after each
 * `syscall` of system call nr: its number loaded into %eax (or %rax) by a
 * `mov $nr` at most three instructions before it, as libc's wrappers do.
 * At most max; returns how many.
 */
int arch_syscall_sites(const uint8_t *code, size_t len, long nr, size_t *offs, int max);
/*
 * May code[x] start a `syscall` of system call nr, as arch_syscall_sites()
 * would find it (the bytes only: a `mov $nr` among the bytes before it)?
 * A quick filter before decoding; x >= 0, code[x + 1] readable.
 */
bool arch_syscall_candidate(const uint8_t *code, size_t x, long nr);
/* Is code[0..len) exactly a `mov $nr,%eax` (or %rax), as a signal restorer starts? */
bool arch_is_mov_nr(const uint8_t *code, size_t len, long nr);
/* The length of a signal restorer's `mov $SYS_rt_sigreturn,%rax`, before its `syscall`. */
#define ARCH_RESTORER_MOV_LEN 7
/*
 * Writes into out (ARCH_SLOT_SIZE bytes) the out-of-line code for plan, as
 * if the instruction were at insn_addr, to run at slot_addr. For
 * ARCH_RELOCATE, executing it has exactly the instruction's effect and then
 * continues at the right place in the program (insn_addr + len, or the branch
 * target). For ARCH_STEP it is the copy to single-step. Rip-relative operands
 * are re-targeted. Returns the number of bytes, or -ERANGE when a
 * rip-relative operand cannot reach its target from slot_addr.
 */
int arch_relocate(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		  uint8_t *out);
/*
 * The same instruction for a post slot: every exit of the relocated code is
 * an int3 (the post-handler stop) instead of a jump back; arch_slot_post()
 * then moves the thread on. ARCH_STEP plans get the plain copy, and so does
 * `jmp *mem` (arch_post_steps()): pushing its target would write into the
 * red zone, so a post handler there costs a single-step.
 */
int arch_relocate_post(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		       uint8_t *out);
static inline bool arch_post_steps(const struct arch_plan *plan)
{
	return plan->kind == ARCH_STEP || (plan->type == ARCH_T_JMP_IND && !plan->ind_reg);
}
/*
 * Single-stepped in its slot: `call *%rsp` always, and `jmp *mem` under a post handler
 * (post: the site has post handlers).
 */
static inline bool arch_needs_step(const struct arch_plan *plan, bool post)
{
	return plan->kind == ARCH_STEP || (post && arch_post_steps(plan));
}
/* Largest distance between slot and insn_addr for which arch_relocate() works (2 GiB minus slack) */
bool arch_slot_reachable(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr);

struct user_regs_struct;
struct arch_mem {
	void *ctx;
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	int (*write)(void *ctx, uint64_t addr, const void *buf, size_t len);
};
/*
 * After an ARCH_STEP single-step of the slot copy: moves rip back into the
 * program (slot_addr + len -> insn_addr + len), rewrites a pushed return
 * address (calls) and clears TF from pushed flags (pushf). Nothing when
 * rip is still slot_addr (the step ended before the copy ran). 0 or -errno.
 */
int arch_step_fixup(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		    struct user_regs_struct *regs, const struct arch_mem *mem);
/*
 * Maps an address inside a slot's relocated code back to the program
 * address a thread there is equivalent to (for detach and signals): the
 * start of the slot maps to insn_addr; a point after the instruction's effect
 * maps to insn_addr + len. Returns false if rip is at a point that has no
 * equivalent (the thread must be let run a little further).
 */
bool arch_slot_pc_to_insn(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
			  struct user_regs_struct *regs);
/*
 * Gives regs and memory the effect of the instruction of plan at insn_addr
 * without running it, for the kinds whose effect is plain (nop and endbr64,
 * push of a register, call rel32, jmp, jcc, ret): the in-place fallback then
 * needs neither a single-step nor the other threads held. 0 done (regs
 * updated, rip included); -EOPNOTSUPP another kind; another -errno when the
 * stack access failed and nothing changed (the real instruction will fault).
 * mem must honour the program's page protections and write all or nothing.
 */
int arch_emulate(const struct arch_plan *plan, uint64_t insn_addr, struct user_regs_struct *regs,
		 const struct arch_mem *mem);

/*
 * A thread of a post slot stopped at pc (the address of one of its exit
 * int3s, executed or not): the instruction's effect is complete; sets the
 * registers to what they are after the instruction in the program (rip the
 * next instruction or the branch target; a return popped). 1 if pc is such
 * a point, 0 if not, -errno if the stack could not be read.
 */
int arch_slot_post(const struct arch_plan *plan, uint64_t insn_addr, uint64_t slot_addr,
		   uint64_t pc, struct user_regs_struct *regs, const struct arch_mem *mem);

/*
 * Jump detours (detour.c), the kernel's optimized kprobes in user space: the
 * probed instruction and those after it, until ARCH_JMP_LEN bytes are
 * covered, become one jmp rel32 to a detour in a scratch area.
 */
#define ARCH_JMP_LEN 5
#define ARCH_JMP_OPCODE 0xe9 /* its first byte */
/*
 * For the scan of a whole function: the length of the instruction at code
 * (or -ENOEXEC); *ind_jmp when it is an indirect jump; *has_target and
 * *target_off (from the instruction's address) for a direct branch or call.
 */
int arch_insn_flow(const uint8_t *code, size_t avail, bool *ind_jmp, bool *has_target,
		   int64_t *target_off);
/* Whether plan's instruction may be covered by a detour; only the last may branch. */
bool arch_detour_ok(const struct arch_plan *plan, bool last);
/* Writes jmp rel32 from `from` to `to` into out; false when out of reach. */
bool arch_jump(uint64_t from, uint64_t to, uint8_t out[ARCH_JMP_LEN]);
/*
 * Writes into out (ARCH_SLOT_SIZE bytes) the detour for the n consecutive
 * instructions of plans starting at insn_addr, to run at slot_addr: an int3
 * at slot_addr, then the copy of the instruction at insn_addr + k at
 * slot_addr + 1 + k (+ ARCH_DETOUR_REC_INT3 with rec_gadget), and the
 * last one relocated as arch_relocate() does, so that a thread falling
 * through continues at insn_addr + (covered bytes).
 * Returns the length, or -ERANGE / -E2BIG.
 */
int arch_relocate_detour(const struct arch_plan *plans, unsigned n, uint64_t insn_addr,
			 uint64_t slot_addr, uint64_t rec_gadget, uint8_t *out);
/*
 * A no-stop detour (rec_gadget != 0) starts with `lea -128(%rsp), %rsp;
 * call rec_gadget; jmp +1`: the gadget records the hit into the ring and
 * returns where it was called from, to the jmp over the int3 (a return
 * the CPU predicts; returning one byte past its return address cost a
 * mispredicted ret, ~10 ns a hit), or, when the ring is full, onto the
 * int3 (its return address + 2). The int3 is at ARCH_DETOUR_REC_INT3, the
 * copies follow it.
 */
#define ARCH_DETOUR_REC_LEA 5   /* after the lea, before the call */
#define ARCH_DETOUR_REC_RET 10  /* after the call: its return address, the jmp over the int3 */
#define ARCH_DETOUR_REC_INT3 12

/* ---- x86-64 Linux registers and ABI (arch/x86/linux.c) ---- */

/* Instruction bytes generic code writes or recognises */
#define ARCH_INT3 0xcc
#define ARCH_INT3_LEN 1         /* a SIGTRAP stop of an int3 has the pc this far past it */
#define ARCH_CALL_OPCODE 0xe8   /* call rel32: a kernel uprobe optimizes a 5-byte nop into one */
#define ARCH_SYSCALL_INSN 0x0f, 0x05 /* `syscall`, for an initializer */
#define ARCH_SYSCALL_LEN 2
#define ARCH_RDTSC_LEN 2

/* Where the pc is in the USER area (PTRACE_PEEKUSER, PTRACE_POKEUSER) */
#define ARCH_REGS_PC_OFF offsetof(struct user_regs_struct, rip)

/* The trap flag of rflags: the CPU traps after the next instruction (a single-step). */
#define ARCH_FLAGS_TF 0x100ull

static inline bool arch_regs_tf(const struct user_regs_struct *r)
{
	return r->eflags & ARCH_FLAGS_TF;
}

static inline void arch_regs_clear_tf(struct user_regs_struct *r)
{
	r->eflags &= ~ARCH_FLAGS_TF;
}

/*
 * After a single-step of plan's instruction with TF set: where it stored the flags (pushf
 * on the stack below rsp_before, syscall in r11), TF is cleared, so the program never sees
 * it. True when regs changed (to be written back); a stack word is rewritten through mem.
 */
bool arch_step_hide_tf(const struct arch_plan *plan, struct user_regs_struct *regs,
		       uint64_t rsp_before, const struct arch_mem *mem);
/*
 * Where a thread held with registers r resumes without a tracer: a
 * system call it was held in made to start again (rip back onto the
 * syscall, rax its number), as the kernel's signal return would.
 */
void arch_regs_restarted(const struct user_regs_struct *r, uint64_t *rax, uint64_t *rip);

/*
 * System call nr returns -EINTR itself when anything wakes the thread (a
 * PTRACE_INTERRUPT too), never restarted by the kernel (signal(7)).
 */
bool arch_syscall_never_restarted(long nr);

/* At a system call's exit: -ERESTARTSYS .. -ERESTART_RESTARTBLOCK, the kernel runs it again. */
static inline bool arch_syscall_restarts(const struct user_regs_struct *r)
{
	int64_t rax = (int64_t)r->rax;

	return rax <= -512 && rax >= -516;
}

/* Past a `syscall` that ended at next: rip there, and rcx as the instruction leaves it. */
static inline void arch_regs_after_syscall(struct user_regs_struct *r, uint64_t next)
{
	r->rip = next;
	r->rcx = next;
}

/* Stopped inside a system call (a clone or fork event): its result is not in rax yet. */
static inline bool arch_regs_inside_syscall(const struct user_regs_struct *r)
{
	return r->orig_rax != (uint64_t)-1 && r->rax == (uint64_t)-ENOSYS;
}

/*
 * Argument n of a function at its first instruction (SysV ABI): true with *v for the six
 * in registers; false for the others, on the stack at arch_stack_arg_addr().
 */
static inline bool arch_regs_arg(const struct user_regs_struct *r, unsigned n, uint64_t *v)
{
	switch (n) {
	case 0: *v = r->rdi; return true;
	case 1: *v = r->rsi; return true;
	case 2: *v = r->rdx; return true;
	case 3: *v = r->rcx; return true;
	case 4: *v = r->r8; return true;
	case 5: *v = r->r9; return true;
	}
	return false;
}

/* Where stack argument n (6 or more) is: [rsp] is the return address at the first instruction. */
static inline uint64_t arch_stack_arg_addr(const struct user_regs_struct *r, unsigned n)
{
	return r->rsp + 8 * (uint64_t)(n - 5);
}

/* Argument n (0-5) of a system call, at its entry stop: rdi, rsi, rdx, r10, r8, r9. */
static inline uint64_t arch_regs_syscall_arg(const struct user_regs_struct *r, unsigned n)
{
	switch (n) {
	case 0: return r->rdi;
	case 1: return r->rsi;
	case 2: return r->rdx;
	case 3: return r->r10;
	case 4: return r->r8;
	default: return r->r9;
	}
}

/*
 * A return from a function's first instruction, its return address ra read at sp: rip
 * ra, the address popped.
 */
static inline void arch_regs_return(struct user_regs_struct *r, uint64_t sp, uint64_t ra)
{
	r->rip = ra;
	r->rsp = sp + 8;
}

static inline void arch_regs_set_retval(struct user_regs_struct *r, uint64_t v)
{
	r->rax = v;
}

/* A function's return value, or a system call's at its exit. */
static inline uint64_t arch_regs_retval(const struct user_regs_struct *r)
{
	return r->rax;
}

/* Out of any system call: the kernel restarts none when the thread resumes. */
static inline void arch_regs_no_syscall(struct user_regs_struct *r)
{
	r->orig_rax = (uint64_t)-1;
}

/* At a system call's entry stop: the number the kernel is about to run. */
static inline uint64_t arch_regs_syscall_nr(const struct user_regs_struct *r)
{
	return r->orig_rax;
}

/*
 * Registers for a system call nr with the first nargs of args, run from a stop outside
 * one (orig_rax -1: the kernel sees no call of its own to restart).
 */
void arch_regs_set_syscall(struct user_regs_struct *r, long nr, const uint64_t *args,
			   unsigned nargs);
/* At a system call's entry stop: makes it system call nr with the first nargs of args. */
void arch_regs_change_syscall(struct user_regs_struct *r, long nr, const uint64_t *args,
			      unsigned nargs);
/*
 * Registers for a call of fn(args) with the stack pointer at sp, which holds the return
 * address; arch_call_sp() gives an sp for a thread whose stack pointer is rsp.
 */
void arch_regs_set_call(struct user_regs_struct *r, uint64_t fn, uint64_t sp,
			const uint64_t args[6]);
uint64_t arch_call_sp(uint64_t rsp);

/*
 * A stub that makes system call nr(args) and then goes back to the program: the argument
 * registers back as in `back`, rax as rax, on at rip (arch_regs_restarted() gives both).
 * Position-independent; the syscall instruction is at ARCH_STUB_SYSCALL.
 */
#define ARCH_STUB_MOVABS 10
#define ARCH_STUB_SYSCALL (7 * ARCH_STUB_MOVABS)
#define ARCH_STUB_LEN (7 * ARCH_STUB_MOVABS + 2 + 9 * ARCH_STUB_MOVABS + 14)
void arch_syscall_stub(uint8_t code[ARCH_STUB_LEN], long nr, const uint64_t args[6],
		       const struct user_regs_struct *back, uint64_t rax, uint64_t rip);

/*
 * A thread stopped on a fault of the rdtsc at the start of insn (a program that made it
 * fault, prctl PR_SET_TSC): true with regs past it, as if it read a time stamp of 0.
 */
bool arch_rdtsc_skip(struct user_regs_struct *regs, const uint8_t insn[ARCH_RDTSC_LEN]);

/* Hardware breakpoint 0 of stopped thread tid on execution at addr. 0 or -errno. */
int arch_hw_break_set(pid_t tid, uint64_t addr);

#endif /* UPROBE_INTERNAL_H */
