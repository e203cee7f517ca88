/* Where domusd finds its helpers and data. Installed paths are compiled in;
 * DOMUS_VMM, DOMUS_MKGUEST and DOMUS_TEMPLATE_DIR override them (the build
 * tree's tests use these). */
#pragma once

const char *paths_vmm(void);
const char *paths_mkguest(void);
/* NULL-terminated: the user's templates first, then the shipped ones. */
const char *const *paths_template_dirs(void);
