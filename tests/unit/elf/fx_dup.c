// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fixture: a local fx_dup linked before the global one, so a lookup must prefer the binding. */

__attribute__((noinline, used)) static int fx_dup(int a)
{
	return a * 31 + 5;
}

__attribute__((noinline, used)) int fx_dup_caller(int a)
{
	return fx_dup(a) + 1;
}
