/* The domus command line: one verb per D-Bus call to domusd. */
#pragma once
#include <gio/gio.h>
#include <stdbool.h>
#include "api.h"

/* Exit statuses: 0 done, 1 domusd (or the VM) said no, 2 bad usage. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

int cli_main(int argc, char **argv);

/* Shared by the verbs. */
int cli_usage_error(const char *verb, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
int cli_fail(GError *err);
char *cli_format_size(guint64 bytes);
char *cli_format_duration(guint64 seconds);
DomusManager *cli_manager(GError **error);
DomusVM *cli_vm(const char *name, GError **error);

int cli_console(const char *name, DomusVM *vm);
int cli_top(DomusManager *m, bool once);
