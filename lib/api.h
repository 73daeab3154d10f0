/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layer 6, api: what the public entry points share between their files.
 *
 * A file of lib/ includes its own layer's header, which brings the ones
 * below: one that includes a higher layer's could call up a layer
 * (tests/layers/check_layers.py fails it).
 */
#ifndef UPROBE_API_H
#define UPROBE_API_H

#include "orch.h"

/* sym.c */
void sym_free(struct uprobe_tracer *t);

#endif /* UPROBE_API_H */
