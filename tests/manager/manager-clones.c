/* manager-clones: a linked clone and its origin in domus-manager, with real
 * guests (the rig case tests/rig/cases/manager-clones.sh runs it under Xvfb,
 * against a private domusd that already has the stopped demo VM and its
 * linked clone demo-clone, both made with the CLI: manager-flow clicks
 * through Clone… and Shut Down). Both start and run side by side on the base
 * disk the clone froze; each one's serial console tab answers a typed line;
 * the clone is forced off and deleted through the trash button while its
 * origin runs on; then the origin. The clone's serial console is saved as
 * OUT_DIR/manager-console.png.
 *
 *   manager-clones OUT_DIR
 */
#include "flow.h"

static void start(const char *name)
{
    open_card(name);
    click_button(GTK_WIDGET(flow_win), "_Start");
    wait_state(name, "running", 60, "after Start");
}

static void force_off(const char *name)
{
    open_card(name);
    click_button(GTK_WIDGET(flow_win), "_Force Off");
    wait_state(name, "stopped", 30, "after Force Off");
    say("%s was forced off", name);
}

int main(int argc, char **argv)
{
    g_set_prgname("manager-clones");
    gtk_init();
    adw_init();
    if (argc != 2) {
        fprintf(stderr, "usage: manager-clones OUT_DIR\n");
        return 2;
    }
    flow_open(argv[1]);
    for (const char *const *n = (const char *const[]){ "demo", "demo-clone", NULL }; *n; n++)
        if (g_strcmp0(vm_state(*n), "stopped"))
            die("%s is %s, not stopped", *n, vm_state(*n));

    /* The clone first: its origin then starts on the base they share. */
    start("demo-clone");
    start("demo");
    if (g_strcmp0(vm_state("demo-clone"), "running"))
        die("demo-clone is %s once demo started", vm_state("demo-clone"));
    say("demo (pid %u) and demo-clone (pid %u) run side by side",
        domus_vm_get_pid(vm_named("demo")), domus_vm_get_pid(vm_named("demo-clone")));
    wait_shell("demo", 300);
    console_answers("demo", "origin", NULL);
    open_card("demo-clone");
    console_answers("demo-clone", "clone", "manager-console.png");

    force_off("demo-clone");
    delete_vm("demo-clone");
    if (g_strcmp0(vm_state("demo"), "running"))
        die("demo is %s after its clone was deleted", vm_state("demo"));
    say("demo runs on after its clone was deleted");
    force_off("demo");
    delete_vm("demo");
    say("both VMs are deleted");
    gtk_window_destroy(GTK_WINDOW(flow_win));
    return 0;
}
