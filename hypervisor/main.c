/* domus-vmm: one process per guest. */
#include <stdlib.h>

#include "core/config.h"
#include "core/vm.h"

int main(int argc, char **argv)
{
    struct vm_config cfg;
    vmm_argv = argv;
    int r = vm_config_parse(&cfg, argc, argv);
    if (r == 1)
        return 0;           /* --help */
    if (r != 0)
        return 2;
    int status = vm_run(&cfg);
    vm_config_free(&cfg);
    return status;
}
