/* domus-manager: the desktop front end of domusd. */
#include "domus-app.h"

int main(int argc, char **argv)
{
    g_autoptr(DomusApp) app = domus_app_new();
    return g_application_run(G_APPLICATION(app), argc, argv);
}
