/* manager-flow: what a newcomer does in domus-manager, with one real guest
 * boot (the rig case tests/rig/cases/manager-flow.sh runs it under Xvfb,
 * against a private domusd): "Try the Demo VM", Start; the guest's tty1
 * console shows in the window and a line typed into it runs; the window's
 * screenshot shows the framebuffer read through a display channel client of
 * our own; the grid shows the running guest's thumbnail; Take Snapshot (live
 * where domusd can, else once shut down); Shut Down (ACPI); a linked clone.
 * Screenshots land in OUT_DIR: manager-guest.png, manager-main.png.
 *
 *   manager-flow OUT_DIR
 */
#include "flow.h"
#include "domus-vm-card.h"

static gboolean view_is_vm(gpointer d) { return !g_strcmp0(domus_window_get_view(flow_win), "vm"); }
/* Creating the demo ends with its page, or with a toast saying why not. */
static gboolean page_or_toast(gpointer toasts)
{
    return view_is_vm(NULL) || domus_window_get_n_toasts(flow_win) != *(guint *)toasts;
}
static gboolean state_is(gpointer want) { return !g_strcmp0(state(), want); }
static gboolean display_shows(gpointer d) { return domus_display_get_mode(domus_vm_page_get_display(page()), NULL, NULL); }

static gboolean is_display(GtkWidget *w, gconstpointer d) { return DOMUS_IS_DISPLAY(w); }
static gboolean thumbnail_shows(gpointer card)
{
    GtkWidget *thumb = mt_find(card, is_display, NULL);
    return thumb && domus_display_get_mode(DOMUS_DISPLAY(thumb), NULL, NULL);
}

/* Keys typed before tty1's shell reads them are lost, and on a loaded host a
 * late key release can become a guest autorepeat: the line is typed again
 * until the guest ran it as typed (its output goes to the serial console
 * too, which the manager reads). */
static void type_into_display(void)
{
    click(GTK_WIDGET(domus_vm_page_get_display(page())));
    focus_window();
    gboolean answered = FALSE;
    for (int i = 0; i < 10 && !answered; i++) {
        say("typing into the window (attempt %d)", i + 1);
        type_line("clear; uname -sr; echo Hello from domus-manager: $((6*7)) | tee /dev/ttyS0");
        answered = mt_wait(console_has, "Hello from domus-manager: 42", 10);
    }
    if (!answered)
        die("keys typed into the window did not reach the guest's tty1 shell");
    say("a line typed into the window ran on tty1");
}

int main(int argc, char **argv)
{
    g_set_prgname("manager-flow");
    gtk_init();
    adw_init();
    if (argc != 2) {
        fprintf(stderr, "usage: manager-flow OUT_DIR\n");
        return 2;
    }
    flow_open(argv[1]);

    guint toasts = domus_window_get_n_toasts(flow_win);
    click_button(GTK_WIDGET(flow_win), "_Try the Demo VM");
    if (!mt_wait(page_or_toast, &toasts, 300) || !view_is_vm(NULL))
        die("the demo VM's page did not open");
    say("the demo VM's page is open (state %s)", state());
    click_button(GTK_WIDGET(flow_win), "_Start");
    if (!mt_wait(state_is, "running", 60))
        die("the demo VM is %s, not running", state());
    say("the demo VM is running");
    if (!mt_wait(display_shows, NULL, 240))   /* a loaded rig boots slowly */
        die("the embedded display shows nothing");
    say("the guest set a mode: its screen is in the window");
    wait_shell("demo", 240);

    type_into_display();
    check_guest_screenshot("manager-guest.png");

    /* The grid, with the running guest's live thumbnail. */
    back_to_grid();
    GtkWidget *card = domus_window_get_card(flow_win, "demo");
    if (!card || !mt_wait(thumbnail_shows, card, 30))
        die("the demo's card shows no thumbnail of its screen");
    /* The README's picture: no focus ring left over from the typing (a
     * pointer user sees none either). */
    gtk_window_set_focus_visible(GTK_WINDOW(flow_win), FALSE);
    g_object_unref(save_window("manager-main.png"));

    /* Snapshot: live where domusd can, otherwise once the guest is down. */
    open_card("demo");
    click_tab("Snapshots");
    gboolean live = take_snapshot(TRUE);
    click_button(GTK_WIDGET(flow_win), "S_hut Down");
    wait_state("demo", "stopped", 120, "after Shut Down (ACPI power button)");
    say("the demo VM shut down on the ACPI power button");
    if (!live)
        take_snapshot(FALSE);

    clone_vm("demo-clone");
    say("done");
    gtk_window_destroy(GTK_WINDOW(flow_win));
    return 0;
}
