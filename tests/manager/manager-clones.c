/* manager-clones: a linked clone in domus-manager, with real guests (the rig
 * case tests/rig/cases/manager-clones.sh runs it under Xvfb, against a
 * private domusd that already has the stopped demo VM): Clone… (linked);
 * the clone starts beside its origin (both on the frozen base disk); each
 * serial console tab answers a typed line; Shut Down the clone (ACPI), Force
 * Off the origin; delete both through the trash button. The clone's serial
 * console is saved as OUT_DIR/manager-console.png.
 *
 *   manager-clones OUT_DIR
 */
#include "flow.h"

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
    if (g_strcmp0(vm_state("demo"), "stopped"))
        die("the demo VM is %s, not stopped", vm_state("demo"));

    open_card("demo");
    clone_vm("demo-clone");

    open_card("demo-clone");
    click_button(GTK_WIDGET(flow_win), "_Start");
    wait_state("demo-clone", "running", 60, "after Start");
    open_card("demo");
    click_button(GTK_WIDGET(flow_win), "_Start");
    wait_state("demo", "running", 60, "after Start");
    if (g_strcmp0(vm_state("demo-clone"), "running"))
        die("demo-clone is %s once demo started again", vm_state("demo-clone"));
    say("demo (pid %u) and demo-clone (pid %u) run side by side",
        domus_vm_get_pid(vm_named("demo")), domus_vm_get_pid(vm_named("demo-clone")));
    wait_shell("demo", 300);
    console_answers("demo", "origin", NULL);
    open_card("demo-clone");
    console_answers("demo-clone", "clone", "manager-console.png");

    click_button(GTK_WIDGET(flow_win), "S_hut Down");
    wait_state("demo-clone", "stopped", 120, "after Shut Down (ACPI power button)");
    say("demo-clone shut down on the ACPI power button");
    open_card("demo");
    click_button(GTK_WIDGET(flow_win), "_Force Off");
    wait_state("demo", "stopped", 30, "after Force Off");
    say("demo was forced off");

    delete_vm("demo-clone");
    delete_vm("demo");
    say("both VMs are deleted");
    gtk_window_destroy(GTK_WINDOW(flow_win));
    return 0;
}
