/* domus-img internals shared by its command files. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct block;
struct block_create_opts;

int img_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints @error (or strerror) and frees it; returns exit status 1. */
int img_fail(char *error, int r);
/* create/convert -o KEY=VALUE,...; returns 0 or an exit status. */
int img_create_opt(struct block_create_opts *o, char *spec);
/* Opens with the user's -f; returns 0 or an exit status. */
int img_open(const char *path, const char *fmt, bool readonly, bool nolock, struct block **b);

int img_cmd_rebase(int argc, char **argv);
int img_cmd_commit(int argc, char **argv);
int img_cmd_convert(int argc, char **argv);
