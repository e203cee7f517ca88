#include "paths.h"
#include "config-paths.h"

#include <glib.h>

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = g_getenv(name);
    return v && *v ? v : fallback;
}

const char *paths_vmm(void)
{
    return env_or("DOMUS_VMM", DOMUS_BINDIR "/domus-vmm");
}

const char *paths_mkguest(void)
{
    return env_or("DOMUS_MKGUEST", DOMUS_LIBEXECDIR "/domus/mkguest");
}

const char *const *paths_template_dirs(void)
{
    static const char *dirs[3];
    if (!dirs[0]) {
        dirs[0] = g_build_filename(g_get_user_data_dir(), "domus", "templates", NULL);
        dirs[1] = env_or("DOMUS_TEMPLATE_DIR", DOMUS_DATADIR "/domus/templates");
    }
    return dirs;
}
