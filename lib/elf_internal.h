/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the pieces of the ELF reader share, and nothing else sees: elf.c
 * opens, parses and caches a file; elf_sym.c maps its addresses to file
 * offsets and makes and searches its symbol index; ehframe.c reads its
 * landing pads; elf_debug.c finds its separate debug file.
 */
#ifndef UPROBE_ELF_INTERNAL_H
#define UPROBE_ELF_INTERNAL_H

#include <gelf.h>
#include <pthread.h>
#include <sys/stat.h>

#include "internal.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* A section's bytes: file offset, link-time address, size (0: not in the file). */
struct span {
	uint64_t off, vaddr, size;
};

/*
 * What callers see is struct elf_file; the lookup indexes live beside it so
 * internal.h stays a plain description of the parsed file.
 */
struct elf_priv {
	struct elf_file f;
	struct span eh_frame, except; /* .eh_frame, .gcc_except_table */
	bool no_shdrs;
	uint8_t *rank;      /* per syms[i]: 0 global/unique, 1 weak, 2 local */
	uint64_t *max_end;  /* per syms[i]: max(vaddr + size) over syms[0..i] */
	uint32_t *by_name;  /* indices into syms, sorted by name then preference */
	char **owned;       /* names we had to copy (split "name@VER" from .symtab) */
	size_t nowned;
	/* what names a separate debug file: NT_GNU_BUILD_ID, .gnu_debuglink (name, CRC-32) */
	uint8_t build_id[64];
	size_t build_id_len;
	char *debuglink;
	uint32_t debuglink_crc;
	struct span debugdata; /* .gnu_debugdata: MiniDebugInfo, an xz-compressed ELF of symbols */
	struct elf_file *debug; /* made by elf_debug_file(), under elf_lazy_lock */
	bool debug_done;
};

/* a symbol being merged, elf_sym.c's: parse() only holds and frees the vector */
struct raw_sym;

struct sym_vec {
	struct raw_sym *v;
	size_t n, cap;
};

/* elf.c; what is made on first need (ehframe.c, elf_debug.c) takes it */
extern pthread_mutex_t elf_lazy_lock;

/* elf.c, for elf_debug.c: a file loaded, and freed */
int elf_load(const char *path, int fd, const struct stat *st, const struct elf_file *segs_from,
	 struct elf_priv **out, char *why, size_t whylen);
void elf_free(struct elf_file *f);

/* elf_sym.c, for elf.c's parse(): the function symbols of .symtab and .dynsym */
int elf_read_verdefs(struct elf_file *f, Elf *elf, Elf_Scn *scn, const char ***out, size_t *nout);
int elf_read_symtab(struct elf_priv *p, Elf *elf, Elf_Scn *scn, Elf_Data *versym,
		const char **verdefs, size_t nverdefs, struct sym_vec *vec);
int elf_build_index(struct elf_priv *p, struct sym_vec *vec);

#endif /* UPROBE_ELF_INTERNAL_H */
