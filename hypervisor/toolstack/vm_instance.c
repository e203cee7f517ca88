/* A VM's lifecycle in domusd: start (spawn domus-vmm in its cgroup, wait
 * for its control socket), stop (ACPI button, then kill after a timeout),
 * pause/resume/reset (control socket), and noticing when the VMM exits —
 * cleanly, or as a crash reported with its last log lines. */
#include "vm_instance.h"
#include "api.h"
#include "cgroup.h"
#include "errors.h"
#include "paths.h"
#include "settings.h"
#include "snapshot.h"
#include "vmm_control.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_STOP_TIMEOUT 30     /* seconds the guest gets to power off */
#define START_TIMEOUT_US (30 * G_USEC_PER_SEC)
#define VNC_WAIT_US (5 * G_USEC_PER_SEC)
#define CONTROL_TIMEOUT_MS 5000
#define LOG_MARK "=== domusd: starting "

static void set_state(struct vm_instance *vm, const char *state, const char *reason)
{
    if (!strcmp(domus_vm_get_state(vm->iface), state))
        return;
    domus_vm_set_state(vm->iface, state);
    domus_vm_emit_state_changed(vm->iface, state, reason ? reason : "");
}

const char *vm_instance_state(struct vm_instance *vm)
{
    return domus_vm_get_state(vm->iface);
}

bool vm_instance_is_active(struct vm_instance *vm)
{
    return vm->pid > 0;
}

/* What this run's VMM wrote to its log (after domusd's mark and command line). */
static char *run_log(struct vm_instance *vm)
{
    g_autofree char *data = NULL;
    if (!g_file_get_contents(vm->log_path, &data, NULL, NULL))
        return g_strdup("");
    char *start = g_strrstr(data, LOG_MARK);
    start = start ? strchr(start, '\n') : data;
    start = start ? start + (*start == '\n') : data;
    if (g_str_has_prefix(start, "command: ")) {   /* domusd's own line, not the VM's */
        char *nl = strchr(start, '\n');
        start = nl ? nl + 1 : start + strlen(start);
    }
    return g_strdup(start);
}

char *vm_instance_log_tail(struct vm_instance *vm, unsigned n)
{
    g_autofree char *start = run_log(vm);
    g_auto(GStrv) lines = g_strsplit(g_strchomp(start), "\n", -1);
    guint len = g_strv_length(lines);
    guint from = len > n ? len - n : 0;
    return g_strjoinv("\n", lines + from);
}

/* domus-vnc picks its port (the first free one from 5900) and says which on
 * the VMM's stderr, i.e. in this run's log; it lives as long as the VMM. */
#define VNC_LISTENING "domus-vnc: listening on "

static char *vm_instance_vnc_address(struct vm_instance *vm)
{
    if (!vm->pid)
        return NULL;
    g_autofree char *log = run_log(vm);
    char *line = g_strrstr(log, VNC_LISTENING);
    if (!line)
        return NULL;
    line += strlen(VNC_LISTENING);
    return g_strndup(line, strcspn(line, " \r\n"));
}

static void fail_invocation(GDBusMethodInvocation *inv, GError *err)
{
    g_dbus_method_invocation_return_gerror(inv, err);
}

/* ---- the VMM is gone ---- */

static void finish_waiters(struct vm_instance *vm)
{
    for (GSList *l = vm->stop_waiters; l; l = l->next)
        g_dbus_method_invocation_return_value(l->data, NULL);
    g_slist_free(vm->stop_waiters);
    vm->stop_waiters = NULL;
}

static void vmm_gone(struct vm_instance *vm, bool crashed, const char *why)
{
    if (vm->stop_timer)
        g_source_remove(vm->stop_timer);
    vm->stop_timer = 0;
    if (vm->pidfd_watch)
        g_source_remove(vm->pidfd_watch);
    vm->pidfd_watch = 0;
    if (vm->pidfd >= 0)
        close(vm->pidfd);
    vm->pidfd = -1;
    g_clear_object(&vm->proc);
    vm->pid = 0;
    vm->started_at = 0;
    g_autofree char *pidfile = g_build_filename(vm->rundir, "pid", NULL);
    g_autofree char *started = g_build_filename(vm->rundir, "started", NULL);
    g_unlink(pidfile);
    g_unlink(started);
    g_unlink(vm->control_path);
    g_unlink(vm->serial_path);
    cgroup_release_vm(vm->rec->name);
    vm->placing = false;
    g_clear_pointer(&vm->confinement, g_free);
    domus_vm_set_pid(vm->iface, 0);
    domus_vm_set_uptime(vm->iface, 0);

    g_autofree char *tail = vm_instance_log_tail(vm, 15);
    g_autofree char *msg = NULL;
    if (crashed) {
        msg = g_strdup_printf("%s%s%s", why, *tail ? "; last log lines:\n" : "", tail);
        domus_vm_set_last_error(vm->iface, msg);
        /* Kept for the next domusd, until the VM starts again. */
        g_autofree char *f = g_build_filename(vm->rundir, "crashed", NULL);
        g_file_set_contents(f, msg, -1, NULL);
    }
    if (vm->start_inv) {
        /* A saved state that cannot be resumed (e.g. the VM's memory was
         * changed since) would fail every start: the next one boots afresh. */
        g_autofree char *resume = vm_resume_state(vm->rec);
        if (resume)
            vm_resume_set(vm->rec, NULL);
        g_dbus_method_invocation_return_error(vm->start_inv, DOMUS_ERROR, DOMUS_ERROR_FAILED,
                                              "VM '%s' failed to start: %s%s%s%s", vm->rec->name, why,
                                              *tail ? ": " : "", tail,
                                              resume ? " (its saved state no longer fits and was discarded: the next start boots afresh)"
                                                     : "");
        vm->start_inv = NULL;
    }
    vm->stop_requested = false;
    set_state(vm, crashed ? "crashed" : "stopped", crashed ? msg : why);
    g_clear_pointer(&vm->stop_reason, g_free);
    finish_waiters(vm);
}

static void on_child_exit(GObject *src, GAsyncResult *res, gpointer data)
{
    struct vm_instance *vm = data;
    GSubprocess *p = G_SUBPROCESS(src);
    if (p != vm->proc)
        return;
    g_subprocess_wait_finish(p, res, NULL);
    g_autofree char *why = NULL;
    bool crashed;
    if (vm->stop_requested) {
        crashed = false;
        why = g_strdup(vm->stop_reason ? vm->stop_reason : "stopped");
    } else if (g_subprocess_get_if_signaled(p)) {
        crashed = true;
        why = g_strdup_printf("domus-vmm was killed by signal %d (%s)", g_subprocess_get_term_sig(p),
                              g_strsignal(g_subprocess_get_term_sig(p)));
    } else {
        int st = g_subprocess_get_exit_status(p);
        crashed = st != 0;
        why = st == 0 ? g_strdup("the guest powered off")
            : st == 3 ? g_strdup("the guest crashed (domus-vmm exit status 3)")
            : g_strdup_printf("domus-vmm exited with status %d", st);
    }
    vmm_gone(vm, crashed, why);
}

/* An adopted VMM is not our child: its exit status is lost. A clean exit
 * removes its control socket; a kill leaves it behind. */
static gboolean on_pidfd(gint fd, GIOCondition cond, gpointer data)
{
    struct vm_instance *vm = data;
    vm->pidfd_watch = 0;
    g_autofree char *tail = vm_instance_log_tail(vm, 50);
    bool killed = g_file_test(vm->control_path, G_FILE_TEST_EXISTS);
    bool guest_crash = strstr(tail, "panic") || strstr(tail, "crash") || strstr(tail, "triple fault");
    if (vm->stop_requested)
        vmm_gone(vm, false, vm->stop_reason ? vm->stop_reason : "stopped");
    else if (killed)
        vmm_gone(vm, true, "domus-vmm died without cleaning up (killed)");
    else if (guest_crash)
        vmm_gone(vm, true, "the guest crashed");
    else
        vmm_gone(vm, false, "the guest powered off");
    return G_SOURCE_REMOVE;
}

/* ---- start ---- */

static void on_start_status(GObject *src, GAsyncResult *res, gpointer data);

static gboolean start_poll(gpointer data)
{
    struct vm_instance *vm = data;
    vm->start_poll = 0;
    if (!vm->start_inv || !vm->pid)
        return G_SOURCE_REMOVE;
    if (g_get_monotonic_time() > vm->start_deadline) {
        vm->stop_requested = true;
        vm->stop_reason = g_strdup("domus-vmm did not open its control socket within 30 s");
        g_dbus_method_invocation_return_error(vm->start_inv, DOMUS_ERROR, DOMUS_ERROR_FAILED,
                                              "VM '%s' failed to start: %s", vm->rec->name, vm->stop_reason);
        vm->start_inv = NULL;
        kill(vm->pid, SIGKILL);
        return G_SOURCE_REMOVE;
    }
    vm->start_polling = true;
    vmm_control_call(vm->control_path, "status", NULL, 1000, NULL, on_start_status, vm);
    return G_SOURCE_REMOVE;
}

static void on_start_status(GObject *src, GAsyncResult *res, gpointer data)
{
    struct vm_instance *vm = data;
    vm->start_polling = false;
    g_autoptr(JsonObject) st = vmm_control_call_finish(res, NULL);
    if (!vm->start_inv)
        return;
    if (!st || vm->placing) {        /* running is reported once it runs where it belongs */
        vm->start_poll = g_timeout_add(50, start_poll, vm);
        return;
    }
    if (vm->display_client && !strcmp(vm->display_client, "vnc")) {
        /* Start returns once info can say where VNC listens (a VNC server
         * that never says so must not hold up the start for good). */
        g_autofree char *addr = vm_instance_vnc_address(vm);
        gint64 now = g_get_monotonic_time();
        if (!vm->vnc_wait_until)
            vm->vnc_wait_until = now + VNC_WAIT_US;
        if (!addr && now < vm->vnc_wait_until) {
            vm->start_poll = g_timeout_add(50, start_poll, vm);
            return;
        }
    }
    g_autofree char *resume = vm_resume_state(vm->rec);
    bool resumed = resume != NULL;
    vm_resume_done(vm->rec);
    set_state(vm, "running", resumed ? "resumed from its saved state" : "started");
    g_dbus_method_invocation_return_value(vm->start_inv, NULL);
    vm->start_inv = NULL;
}

struct child_setup {
    char *cgroup_procs;
};

static void child_setup(gpointer data)
{
    struct child_setup *cs = data;
    setsid();                        /* the terminal's signals are not the VM's */
    if (cs->cgroup_procs) {
        int fd = open(cs->cgroup_procs, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, "0", 1) < 0) { /* stays in domusd's cgroup */ }
            close(fd);
        }
    }
}

static bool check_startable(struct vm_instance *vm, const char *display, GError **error)
{
    struct vm_record *r = vm->rec;
    const char *needs;
    if (!vm_record_startable(r, &needs)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_NOT_SUPPORTED,
                    "VM '%s' cannot start yet: it needs %s, which domus-vmm does not have yet (firmware=%s)",
                    r->name, needs, r->firmware);
        return false;
    }
    if (display && !g_strv_contains((const char *const[]){ "none", "channel", "vnc", "sdl", NULL }, display)) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_INVALID,
                    "unknown display '%s' (none, vnc, sdl or channel)", display);
        return false;
    }
    if (r->iso && access(r->iso, R_OK) < 0) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "VM '%s' cannot start: its ISO %s is not readable (%s)",
                    r->name, r->iso, g_strerror(errno));
        return false;
    }
    if (strcmp(r->firmware, "direct"))
        return true;                 /* the firmware boots from the disks or the CD */
    if (!r->kernel || access(r->kernel, R_OK) < 0) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "VM '%s' cannot start: kernel %s is not readable",
                    r->name, r->kernel ? r->kernel : "(none)");
        return false;
    }
    return true;
}

static GPtrArray *vmm_argv(struct vm_instance *vm)
{
    struct vm_record *r = vm->rec;
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(a, g_strdup(paths_vmm()));
    g_ptr_array_add(a, g_strdup_printf("--name=%s", r->name));
    g_ptr_array_add(a, g_strdup_printf("--memory=%" G_GUINT64_FORMAT "M", r->memory >> 20));
    g_ptr_array_add(a, g_strdup_printf("--cpus=%u", r->cpus));
    bool emulated = r->devices && !strcmp(r->devices, "emulated");
    if (!strcmp(r->firmware, "bios") || !strcmp(r->firmware, "uefi"))
        g_ptr_array_add(a, g_strdup_printf("--firmware=%s", r->firmware));
    if (!strcmp(r->firmware, "uefi"))   /* boot entries the guest writes persist */
        g_ptr_array_add(a, g_strdup_printf("--nvram=%s/nvram/vars.fd", r->dir));
    if (r->kernel && !strcmp(r->firmware, "direct"))
        g_ptr_array_add(a, g_strdup_printf("--kernel=%s", r->kernel));
    if (r->clock && !strcmp(r->clock, "localtime"))
        g_ptr_array_add(a, g_strdup("--rtc=localtime"));
    if (r->initrd)
        g_ptr_array_add(a, g_path_is_absolute(r->initrd) ? g_strdup_printf("--initrd=%s", r->initrd)
                                                         : g_strdup_printf("--initrd=%s/%s", r->dir, r->initrd));
    if (r->append)
        g_ptr_array_add(a, g_strdup_printf("--append=%s", r->append));
    /* emulated: guests without virtio drivers (Windows, installers) get
     * SATA disks and an e1000; the CD drive is on AHCI either way */
    for (char **d = r->disks; *d; d++)
        g_ptr_array_add(a, g_strdup_printf("--disk=%s/%s%s", r->dir, *d, emulated ? ",bus=ahci" : ""));
    if (r->iso)
        g_ptr_array_add(a, g_strdup_printf("--cdrom=%s", r->iso));
    g_ptr_array_add(a, g_strdup_printf("--serial=unix:%s", vm->serial_path));
    g_ptr_array_add(a, g_strdup_printf("--control=unix:%s", vm->control_path));
    if (r->net)
        g_ptr_array_add(a, g_strdup_printf("--net=%s%s", r->net,
                                           emulated && strcmp(r->net, "none") && !strstr(r->net, "model=") ? ",model=e1000" : ""));
    if (r->sound) {                  /* played through the desktop's sound server */
        g_ptr_array_add(a, g_strdup("--audio=pulse"));
        g_ptr_array_add(a, g_strdup_printf("--sound=%s", r->sound));
    }
    if (vm->display_channel)         /* the manager's display widget, domus-view and domus-vnc attach here */
        g_ptr_array_add(a, g_strdup_printf("--display=channel:%s/display.sock", vm->rundir));
    if (vm->display_client)          /* VNC on 127.0.0.1 from port 5900 on (the port is in the log), or a window */
        g_ptr_array_add(a, g_strdup_printf("--display=%s", vm->display_client));
    g_autofree char *resume = vm_resume_state(r);
    if (resume)                      /* suspended, or reverted to a live snapshot while stopped */
        g_ptr_array_add(a, g_strdup_printf("--restore=%s", resume));
    g_ptr_array_add(a, NULL);
    return a;
}

static void on_placed(int pid, const char *desc, void *data)
{
    struct vm_instance *vm = data;
    if (pid != vm->pid)
        return;                      /* that VMM is gone already */
    vm->placing = false;
    g_free(vm->confinement);
    vm->confinement = g_strdup(desc);
}

static bool vm_spawn(struct vm_instance *vm, GError **error)
{
    g_autofree char *logdir = g_path_get_dirname(vm->log_path);
    g_mkdir_with_parents(logdir, 0700);
    int logfd = open(vm->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "cannot open %s: %s", vm->log_path, g_strerror(errno));
        return false;
    }
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *stamp = g_date_time_format_iso8601(now);
    g_autofree char *mark = g_strdup_printf("%s%s at %s\n", LOG_MARK, vm->rec->name, stamp);
    if (write(logfd, mark, strlen(mark)) < 0) { /* the log is best effort */ }

    g_autofree char *warning = NULL;
    struct child_setup cs = { .cgroup_procs = cgroup_prepare_vm(vm->rec, &warning) };
    if (warning)
        g_printerr("domusd: %s\n", warning);
    g_autofree char *procs = g_strdup(cs.cgroup_procs);
    g_autoptr(GPtrArray) argv = vmm_argv(vm);
    /* The whole command line in the log, so what a VM ran with can be
     * checked and rerun by hand (as libvirt logs QEMU's). */
    g_autoptr(GString) cmd = g_string_new("command:");
    for (guint i = 0; i + 1 < argv->len; i++) {
        g_autofree char *q = g_shell_quote(argv->pdata[i]);
        g_string_append_printf(cmd, " %s", q);
    }
    g_string_append_c(cmd, '\n');
    if (write(logfd, cmd->str, cmd->len) < 0) { /* best effort, as above */ }
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_take_stdout_fd(l, dup(logfd));
    g_subprocess_launcher_take_stderr_fd(l, logfd);
    g_subprocess_launcher_set_child_setup(l, child_setup, &cs, NULL);
    g_unlink(vm->control_path);
    g_unlink(vm->serial_path);
    vm->proc = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, error);
    g_free(cs.cgroup_procs);
    if (!vm->proc)
        return false;
    vm->pid = atoi(g_subprocess_get_identifier(vm->proc));
    vm->placing = true;
    cgroup_place_vm(vm->rec, vm->pid, procs, warning, on_placed, vm);
    vm->started_at = g_get_real_time() / G_USEC_PER_SEC;
    g_autofree char *pidfile = g_build_filename(vm->rundir, "pid", NULL);
    g_autofree char *started = g_build_filename(vm->rundir, "started", NULL);
    g_autofree char *pidtext = g_strdup_printf("%d\n", vm->pid);
    g_autofree char *sttext = g_strdup_printf("%" G_GINT64_FORMAT "\n", vm->started_at);
    g_file_set_contents(pidfile, pidtext, -1, NULL);
    g_file_set_contents(started, sttext, -1, NULL);
    domus_vm_set_pid(vm->iface, (guint)vm->pid);
    domus_vm_set_last_error(vm->iface, "");
    g_autofree char *crashed = g_build_filename(vm->rundir, "crashed", NULL);
    g_unlink(crashed);
    g_subprocess_wait_async(vm->proc, NULL, on_child_exit, vm);
    return true;
}

static gboolean handle_start(DomusVM *iface, GDBusMethodInvocation *inv, GVariant *options, gpointer data)
{
    struct vm_instance *vm = data;
    GError *err = NULL;
    const char *display = NULL;
    g_variant_lookup(options, "display", "&s", &display);
    if (vm_instance_is_active(vm) || vm->busy) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE, "VM '%s' is already %s",
                                              vm->rec->name, vm->busy ? "busy" : vm_instance_state(vm));
        return TRUE;
    }
    vm->display_channel = display && strcmp(display, "none");
    vm->display_client = !g_strcmp0(display, "vnc") ? "vnc" : !g_strcmp0(display, "sdl") ? "sdl" : NULL;
    /* A saved state brings its devices: it resumes with a display exactly
     * when it was saved with one (a start that differs would not fit it,
     * and that start would drop the saved state). */
    g_autofree char *resume = vm_resume_state(vm->rec);
    if (resume && vm_state_has_display(resume) != vm->display_channel) {
        vm->display_channel = !vm->display_channel;
        if (!vm->display_channel)
            vm->display_client = NULL;
    }
    if (!check_startable(vm, display, &err) || !vm_spawn(vm, &err)) {
        fail_invocation(inv, err);
        return TRUE;
    }
    set_state(vm, "starting", NULL);
    vm->start_inv = inv;
    vm->start_deadline = g_get_monotonic_time() + START_TIMEOUT_US;
    vm->vnc_wait_until = 0;
    vm->start_poll = g_timeout_add(20, start_poll, vm);
    return TRUE;
}

/* ---- stop, pause, resume, reset ---- */

static void send_signal(struct vm_instance *vm, int sig)
{
    if (vm->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, vm->pidfd, sig, NULL, 0);
    else if (vm->proc)
        g_subprocess_send_signal(vm->proc, sig);
}

static gboolean on_stop_timeout(gpointer data)
{
    struct vm_instance *vm = data;
    vm->stop_timer = 0;
    g_free(vm->stop_reason);
    vm->stop_reason = g_strdup("the guest did not power off in time; domus-vmm was killed");
    send_signal(vm, SIGKILL);
    return G_SOURCE_REMOVE;
}

static void on_powerdown(GObject *src, GAsyncResult *res, gpointer data)
{
    struct vm_instance *vm = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) r = vmm_control_call_finish(res, &err);
    if (!r && vm->pid) {
        /* The control socket failed: SIGTERM presses the same button. */
        send_signal(vm, SIGTERM);
    }
}

static gboolean handle_stop(DomusVM *iface, GDBusMethodInvocation *inv, gboolean force, guint timeout, gpointer data)
{
    struct vm_instance *vm = data;
    if (!vm_instance_is_active(vm)) {
        if (!strcmp(vm_instance_state(vm), "crashed")) {
            g_autofree char *f = g_build_filename(vm->rundir, "crashed", NULL);
            g_unlink(f);
            set_state(vm, "stopped", "cleared");
            g_dbus_method_invocation_return_value(inv, NULL);
        } else {
            g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE, "VM '%s' is not running",
                                                  vm->rec->name);
        }
        return TRUE;
    }
    vm->stop_waiters = g_slist_append(vm->stop_waiters, inv);
    vm->stop_requested = true;
    const char *state = vm_instance_state(vm);
    if (force || !strcmp(state, "paused") || !strcmp(state, "starting")) {
        /* A paused guest cannot see the power button. */
        g_free(vm->stop_reason);
        vm->stop_reason = g_strdup(force ? "forced off" : "stopped while paused");
        send_signal(vm, SIGKILL);
        return TRUE;
    }
    if (!vm->stop_timer) {
        g_free(vm->stop_reason);
        vm->stop_reason = g_strdup("the guest powered off (ACPI power button)");
        set_state(vm, "stopping", NULL);
        vmm_control_call(vm->control_path, "powerdown", NULL, CONTROL_TIMEOUT_MS, NULL, on_powerdown, vm);
        vm->stop_timer = g_timeout_add_seconds(timeout ? timeout : DEFAULT_STOP_TIMEOUT, on_stop_timeout, vm);
    }
    return TRUE;
}

struct simple_op {
    struct vm_instance *vm;
    GDBusMethodInvocation *inv;
    const char *new_state;
};

static void on_simple_op(GObject *src, GAsyncResult *res, gpointer data)
{
    struct simple_op *op = data;
    GError *err = NULL;
    g_autoptr(JsonObject) r = vmm_control_call_finish(res, &err);
    if (!r) {
        fail_invocation(op->inv, err);
    } else {
        if (op->vm->pid && op->new_state)
            set_state(op->vm, op->new_state, NULL);
        g_dbus_method_invocation_return_value(op->inv, NULL);
    }
    g_free(op);
}

/* Sends @cmd (with @args, if any) to a VMM in @need_state (NULL: running or
 * paused) and then shows @new_state (NULL: unchanged). */
static void control_op(struct vm_instance *vm, GDBusMethodInvocation *inv, const char *cmd, JsonObject *args,
                       const char *need_state, const char *new_state)
{
    const char *state = vm_instance_state(vm);
    bool ok = need_state ? !strcmp(state, need_state) : (!strcmp(state, "running") || !strcmp(state, "paused"));
    if (!ok || vm->busy) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE, "VM '%s' is %s, not %s",
                                              vm->rec->name, vm->busy ? "busy" : state,
                                              need_state ? need_state : "running");
        return;
    }
    struct simple_op *op = g_new0(struct simple_op, 1);
    *op = (struct simple_op){ vm, inv, new_state };
    vmm_control_call(vm->control_path, cmd, args, CONTROL_TIMEOUT_MS, NULL, on_simple_op, op);
}

static void simple_op(struct vm_instance *vm, GDBusMethodInvocation *inv, const char *cmd,
                      const char *need_state, const char *new_state)
{
    control_op(vm, inv, cmd, NULL, need_state, new_state);
}

static gboolean handle_set_link(DomusVM *i, GDBusMethodInvocation *inv, gboolean up, gpointer data)
{
    struct vm_instance *vm = data;
    if (!vm->rec->net || !strcmp(vm->rec->net, "none")) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_NOT_SUPPORTED,
                                              "VM '%s' has no network card (domus set %s net=user)",
                                              vm->rec->name, vm->rec->name);
        return TRUE;
    }
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_boolean_member(args, "up", up);
    control_op(vm, inv, "set-link", args, NULL, NULL);
    return TRUE;
}

static gboolean handle_pause(DomusVM *i, GDBusMethodInvocation *inv, gpointer vm)
{
    simple_op(vm, inv, "pause", "running", "paused");
    return TRUE;
}

static gboolean handle_resume(DomusVM *i, GDBusMethodInvocation *inv, gpointer vm)
{
    simple_op(vm, inv, "resume", "paused", "running");
    return TRUE;
}

static gboolean handle_reset(DomusVM *i, GDBusMethodInvocation *inv, gpointer vm)
{
    /* A reset resumes a paused VM: it restarts from power-on. */
    simple_op(vm, inv, "reset", NULL, "running");
    return TRUE;
}

static gboolean handle_open_console(DomusVM *i, GDBusMethodInvocation *inv, GUnixFDList *in_fds, gpointer data)
{
    struct vm_instance *vm = data;
    const char *state = vm_instance_state(vm);
    if (strcmp(state, "running") && strcmp(state, "paused")) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE,
                                              "VM '%s' is %s: its console is there only while it runs",
                                              vm->rec->name, state);
        return TRUE;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, vm->serial_path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_FAILED,
                                              "cannot connect to the console of VM '%s': %s", vm->rec->name,
                                              g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return TRUE;
    }
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new_from_array(&fd, 1);
    domus_vm_complete_open_console(vm->iface, inv, fds, g_variant_new_handle(0));
    return TRUE;
}

/* ---- snapshots ---- */

/* A running VM's snapshot is taken by its VMM, which holds the disks: RAM,
 * devices and the disks' internal snapshots while paused, so they agree.
 * A stopped VM's disks are snapshotted here. */
#define SNAPSHOT_TIMEOUT_MS (600 * 1000)

static bool snapshot_allowed(struct vm_instance *vm, GDBusMethodInvocation *inv, const char *what)
{
    if (vm->busy) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE, "VM '%s' is busy", vm->rec->name);
        return false;
    }
    const char *state = vm_instance_state(vm);
    if (vm_instance_is_active(vm) && strcmp(state, "running") && strcmp(state, "paused")) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE,
            "VM '%s' is %s: wait until it runs or has stopped before %s a snapshot", vm->rec->name, state, what);
        return false;
    }
    return true;
}

static void finish(GDBusMethodInvocation *inv, bool ok, GError *err)
{
    if (ok)
        g_dbus_method_invocation_return_value(inv, NULL);
    else
        g_dbus_method_invocation_take_error(inv, err);
}

struct live_op {
    struct vm_instance *vm;
    GDBusMethodInvocation *inv;
    char *snap;
    bool revert;
};

static void live_op_free(struct live_op *op)
{
    op->vm->busy = false;
    g_free(op->snap);
    g_free(op);
}

static void on_live_snapshot(GObject *src, GAsyncResult *res, gpointer data)
{
    struct live_op *op = data;
    struct vm_instance *vm = op->vm;
    GError *err = NULL;
    g_autoptr(JsonObject) r = vmm_control_call_finish(res, &err);
    bool ok = r != NULL;
    if (!ok) {
        g_prefix_error(&err, "cannot %s snapshot '%s' of running VM '%s': ", op->revert ? "revert to" : "take",
                       op->snap, vm->rec->name);
        if (!op->revert)
            vm_snapshot_abandon_live(vm->rec, op->snap);
    } else if (op->revert) {
        vm_snapshot_reverted(vm->rec, op->snap);
        if (vm->pid)
            set_state(vm, "running", "reverted to a snapshot");
    } else {
        ok = vm_snapshot_commit_live(vm->rec, op->snap, &err);
    }
    finish(op->inv, ok, err);
    live_op_free(op);
}

static void live_snapshot(struct vm_instance *vm, GDBusMethodInvocation *inv, const char *snap, bool revert)
{
    g_autofree char *state = vm_snapshot_state_path(vm->rec, snap);
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "path", state);
    json_object_set_string_member(args, "disk-snapshot", snap);
    struct live_op *op = g_new0(struct live_op, 1);
    *op = (struct live_op){ vm, inv, g_strdup(snap), revert };
    vm->busy = true;
    vmm_control_call(vm->control_path, revert ? "snapshot-load" : "snapshot-save", args, SNAPSHOT_TIMEOUT_MS,
                     NULL, on_live_snapshot, op);
}

static gboolean handle_snapshot_create(DomusVM *i, GDBusMethodInvocation *inv, const char *snap, gpointer data)
{
    struct vm_instance *vm = data;
    GError *err = NULL;
    if (!snapshot_allowed(vm, inv, "taking"))
        return TRUE;
    if (!vm_instance_is_active(vm)) {
        bool ok = vm_snapshot_create(vm->rec, snap, &err);
        finish(inv, ok, err);
    } else if (!vm_snapshot_check_new(vm->rec, snap, &err))
        finish(inv, false, err);
    else
        live_snapshot(vm, inv, snap, false);
    return TRUE;
}

static gboolean handle_snapshot_revert(DomusVM *i, GDBusMethodInvocation *inv, const char *snap, gpointer data)
{
    struct vm_instance *vm = data;
    GError *err = NULL;
    if (!snapshot_allowed(vm, inv, "reverting to"))
        return TRUE;
    if (!vm_instance_is_active(vm)) {
        bool ok = vm_snapshot_revert(vm->rec, snap, &err);
        finish(inv, ok, err);
    } else if (!vm_snapshot_exists(vm->rec, snap, &err)) {
        finish(inv, false, err);
    } else if (!vm_snapshot_has_state(vm->rec, snap)) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE,
            "snapshot '%s' of VM '%s' was taken while it was stopped: stop the VM to revert to it",
            snap, vm->rec->name);
    } else {
        live_snapshot(vm, inv, snap, true);
    }
    return TRUE;
}

static gboolean handle_snapshot_delete(DomusVM *i, GDBusMethodInvocation *inv, const char *snap, gpointer data)
{
    struct vm_instance *vm = data;
    GError *err = NULL;
    if (!snapshot_allowed(vm, inv, "deleting"))
        return TRUE;
    if (vm_instance_is_active(vm)) {
        /* The VMM holds the disks; deleting inside them is for when it is gone. */
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE,
            "VM '%s' is %s: stop it to delete snapshot '%s'", vm->rec->name, vm_instance_state(vm), snap);
        return TRUE;
    }
    bool ok = vm_snapshot_delete(vm->rec, snap, &err);
    finish(inv, ok, err);
    return TRUE;
}

static gboolean handle_snapshot_list(DomusVM *i, GDBusMethodInvocation *inv, gpointer data)
{
    struct vm_instance *vm = data;
    g_auto(GStrv) names = vm_snapshot_list(vm->rec);
    domus_vm_complete_snapshot_list(vm->iface, inv, (const char *const *)names);
    return TRUE;
}

/* ---- settings ---- */

static gboolean handle_set_config(DomusVM *i, GDBusMethodInvocation *inv, GVariant *settings, gpointer data)
{
    struct vm_instance *vm = data;
    GError *err = NULL;
    if (vm_instance_is_active(vm) || vm->busy) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE,
            "VM '%s' is %s: its hardware can change only while it is stopped; shut it down first",
            vm->rec->name, vm->busy ? "busy" : vm_instance_state(vm));
        return TRUE;
    }
    if (!vm_settings_apply(vm->rec, settings, &err)) {
        fail_invocation(inv, err);
        return TRUE;
    }
    domus_vm_set_memory(vm->iface, vm->rec->memory);
    domus_vm_set_cpus(vm->iface, vm->rec->cpus);
    domus_vm_complete_set_config(vm->iface, inv);
    return TRUE;
}

static gboolean handle_snapshot_tree(DomusVM *i, GDBusMethodInvocation *inv, gpointer data)
{
    struct vm_instance *vm = data;
    domus_vm_complete_snapshot_tree(vm->iface, inv, vm_snapshot_tree(vm->rec));
    return TRUE;
}

/* ---- suspend: save the running state, then stop ---- */

static void on_suspend_saved(GObject *src, GAsyncResult *res, gpointer data)
{
    struct live_op *op = data;
    struct vm_instance *vm = op->vm;
    GError *err = NULL;
    g_autoptr(JsonObject) r = vmm_control_call_finish(res, &err);
    if (!r || !vm->pid) {
        if (!err)
            err = g_error_new(DOMUS_ERROR, DOMUS_ERROR_FAILED, "VM '%s' stopped while being saved", vm->rec->name);
        g_prefix_error(&err, "cannot suspend VM '%s': ", vm->rec->name);
        finish(op->inv, false, err);
        live_op_free(op);
        return;
    }
    g_autofree char *state = vm_suspend_state_path(vm->rec);
    vm_resume_set(vm->rec, state);
    /* Completed once the VMM is gone, like a stop. */
    vm->stop_waiters = g_slist_append(vm->stop_waiters, op->inv);
    vm->stop_requested = true;
    g_free(vm->stop_reason);
    vm->stop_reason = g_strdup("suspended: its state is saved, start resumes it");
    set_state(vm, "stopping", NULL);
    vmm_control_call(vm->control_path, "quit", NULL, CONTROL_TIMEOUT_MS, NULL, on_powerdown, vm);
    live_op_free(op);
}

static gboolean handle_suspend(DomusVM *i, GDBusMethodInvocation *inv, gpointer data)
{
    struct vm_instance *vm = data;
    const char *state = vm_instance_state(vm);
    if (vm->busy || !vm_instance_is_active(vm) || (strcmp(state, "running") && strcmp(state, "paused"))) {
        g_dbus_method_invocation_return_error(inv, DOMUS_ERROR, DOMUS_ERROR_STATE, "VM '%s' is %s, not running",
                                              vm->rec->name, vm->busy ? "busy" : state);
        return TRUE;
    }
    g_autofree char *path = vm_suspend_state_path(vm->rec);
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "path", path);
    json_object_set_boolean_member(args, "paused", TRUE);
    struct live_op *op = g_new0(struct live_op, 1);
    *op = (struct live_op){ vm, inv, NULL, false };
    vm->busy = true;
    vmm_control_call(vm->control_path, "snapshot-save", args, SNAPSHOT_TIMEOUT_MS, NULL, on_suspend_saved, op);
    return TRUE;
}

/* ---- info, stats ---- */

static gboolean handle_get_info(DomusVM *i, GDBusMethodInvocation *inv, gpointer data)
{
    struct vm_instance *vm = data;
    struct vm_record *r = vm->rec;
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
#define ADD_S(k, v) if (v) g_variant_builder_add(&b, "{sv}", k, g_variant_new_string(v))
    ADD_S("name", r->name);
    ADD_S("state", vm_instance_state(vm));
    ADD_S("template", r->template_id);
    ADD_S("os-family", r->os_family);
    ADD_S("firmware", r->firmware);
    ADD_S("kernel", r->kernel);
    ADD_S("initrd", r->initrd);
    ADD_S("append", r->append);
    ADD_S("iso", r->iso);
    ADD_S("devices", r->devices);
    ADD_S("clock", r->clock);
    ADD_S("net", r->net ? r->net : "none");
    ADD_S("sound", r->sound ? r->sound : "none");
    const char *needs = NULL;
    bool startable = vm_record_startable(r, &needs);
    ADD_S("needs", needs);
    ADD_S("dir", r->dir);
    ADD_S("log", vm->log_path);
    g_autofree char *resume = vm_resume_state(r);
    ADD_S("resume-state", resume);   /* start continues from this saved state */
    const char *err = domus_vm_get_last_error(vm->iface);
    ADD_S("last-error", err && *err ? err : NULL);
    g_variant_builder_add(&b, "{sv}", "memory", g_variant_new_uint64(r->memory));
    g_variant_builder_add(&b, "{sv}", "cpus", g_variant_new_uint32(r->cpus));
    g_variant_builder_add(&b, "{sv}", "startable", g_variant_new_boolean(startable));
    g_variant_builder_add(&b, "{sv}", "disks", g_variant_new_strv((const char *const *)r->disks, -1));
    g_variant_builder_add(&b, "{sv}", "disk-size", g_variant_new_uint64(vm_settings_disk_size(r)));
    g_variant_builder_add(&b, "{sv}", "cpu-weight", g_variant_new_uint32(r->cpu_weight));
    g_variant_builder_add(&b, "{sv}", "cpu-quota", g_variant_new_uint32(r->cpu_quota));
    g_variant_builder_add(&b, "{sv}", "memory-limit", g_variant_new_uint64(vm_record_memory_limit(r)));
    g_variant_builder_add(&b, "{sv}", "uptime", g_variant_new_uint64(domus_vm_get_uptime(vm->iface)));
    if (vm->pid) {
        g_variant_builder_add(&b, "{sv}", "pid", g_variant_new_uint32((guint32)vm->pid));
        g_autofree char *cg = cgroup_of_pid(vm->pid);
        ADD_S("cgroup", cg);
        /* Also for a VMM adopted from an earlier domusd: its scope is its cgroup. */
        g_autofree char *unit = cg ? g_path_get_basename(cg) : NULL;
        bool scope = unit && g_str_has_prefix(unit, "domus-vm-") && g_str_has_suffix(unit, ".scope");
        ADD_S("scope", scope ? unit : NULL);
        g_autofree char *adopted = !vm->confinement && scope ? g_strdup_printf("systemd scope %s", unit) : NULL;
        ADD_S("confinement", vm->confinement ? vm->confinement : adopted);
        g_autofree char *dsock = g_build_filename(vm->rundir, "display.sock", NULL);
        ADD_S("display-socket", g_file_test(dsock, G_FILE_TEST_EXISTS) ? dsock : NULL);
        g_autofree char *vnc = vm_instance_vnc_address(vm);
        ADD_S("vnc", vnc);
    }
#undef ADD_S
    domus_vm_complete_get_info(vm->iface, inv, g_variant_builder_end(&b));
    return TRUE;
}

static bool read_proc(int pid, const char *file, char **out)
{
    g_autofree char *p = g_strdup_printf("/proc/%d/%s", pid, file);
    return g_file_get_contents(p, out, NULL, NULL);
}

static guint64 field_after(const char *text, const char *key)
{
    const char *p = text ? strstr(text, key) : NULL;
    return p ? g_ascii_strtoull(p + strlen(key), NULL, 10) : 0;
}

void vm_instance_stats(struct vm_instance *vm, GVariantBuilder *b)
{
    g_autofree char *stat = NULL, *status = NULL, *io = NULL;
    guint64 ticks = 0, rss = 0, rd = 0, wr = 0;
    if (vm->pid && read_proc(vm->pid, "stat", &stat)) {
        /* Fields after the ")" of comm: state is 3rd, utime/stime 14th/15th. */
        const char *p = strrchr(stat, ')');
        g_auto(GStrv) f = p ? g_strsplit(p + 2, " ", 16) : NULL;
        if (f && g_strv_length(f) >= 13)
            ticks = g_ascii_strtoull(f[11], NULL, 10) + g_ascii_strtoull(f[12], NULL, 10);
        read_proc(vm->pid, "status", &status);
        read_proc(vm->pid, "io", &io);
        rss = field_after(status, "VmRSS:") * 1024;
        rd = field_after(io, "read_bytes: ");
        wr = field_after(io, "\nwrite_bytes: ");
    }
    gint64 now = g_get_monotonic_time();
    double dt = (double)(now - vm->sample_us) / G_USEC_PER_SEC;
    if (!vm->pid) {
        vm->cpu_pct = vm->read_rate = vm->write_rate = 0;
        vm->sample_us = 0;
    } else if (vm->sample_us && dt >= 0.5) {
        vm->cpu_pct = 100.0 * (double)(ticks - vm->cpu_ticks) / (double)sysconf(_SC_CLK_TCK) / dt;
        vm->read_rate = (double)(rd - vm->read_bytes) / dt;
        vm->write_rate = (double)(wr - vm->write_bytes) / dt;
    }
    if (vm->pid && (!vm->sample_us || dt >= 0.5)) {
        vm->sample_us = now;
        vm->cpu_ticks = ticks;
        vm->read_bytes = rd;
        vm->write_bytes = wr;
    }
    g_variant_builder_open(b, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(b, "{sv}", "name", g_variant_new_string(vm->rec->name));
    g_variant_builder_add(b, "{sv}", "state", g_variant_new_string(vm_instance_state(vm)));
    g_variant_builder_add(b, "{sv}", "cpus", g_variant_new_uint32(vm->rec->cpus));
    g_variant_builder_add(b, "{sv}", "cpu-percent", g_variant_new_double(vm->cpu_pct));
    g_variant_builder_add(b, "{sv}", "rss", g_variant_new_uint64(rss));
    g_variant_builder_add(b, "{sv}", "memory", g_variant_new_uint64(vm->rec->memory));
    g_variant_builder_add(b, "{sv}", "disk-read", g_variant_new_double(vm->read_rate));
    g_variant_builder_add(b, "{sv}", "disk-write", g_variant_new_double(vm->write_rate));
    g_variant_builder_add(b, "{sv}", "pid", g_variant_new_uint32((guint32)vm->pid));
    g_variant_builder_add(b, "{sv}", "uptime", g_variant_new_uint64(domus_vm_get_uptime(vm->iface)));
    g_variant_builder_close(b);
}

void vm_instance_tick(struct vm_instance *vm)
{
    if (vm->pid && vm->started_at) {
        gint64 up = g_get_real_time() / G_USEC_PER_SEC - vm->started_at;
        domus_vm_set_uptime(vm->iface, up > 0 ? (guint64)up : 0);
    }
}

/* ---- creation, adoption ---- */

/* A VMM left running by an earlier domusd answers on its control socket. */
static void adopt(struct vm_instance *vm)
{
    g_autofree char *crashed = g_build_filename(vm->rundir, "crashed", NULL);
    g_autofree char *crash_msg = NULL;
    if (g_file_get_contents(crashed, &crash_msg, NULL, NULL)) {
        domus_vm_set_state(vm->iface, "crashed");
        domus_vm_set_last_error(vm->iface, crash_msg);
    }
    if (!g_file_test(vm->control_path, G_FILE_TEST_EXISTS))
        return;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) st = vmm_control_call_sync(vm->control_path, "status", NULL, 2000, &err);
    int pid = st && json_object_has_member(st, "pid") ? (int)json_object_get_int_member(st, "pid") : 0;
    int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (pidfd < 0) {
        /* Its socket is there but nobody answers: it died while we were away. */
        g_autofree char *tail = vm_instance_log_tail(vm, 15);
        g_autofree char *msg = g_strdup_printf("domus-vmm died while domusd was not running%s%s",
                                               *tail ? "; last log lines:\n" : "", tail);
        domus_vm_set_state(vm->iface, "crashed");
        domus_vm_set_last_error(vm->iface, msg);
        g_unlink(vm->control_path);
        return;
    }
    vm->pid = pid;
    vm->pidfd = pidfd;
    vm->pidfd_watch = g_unix_fd_add(pidfd, G_IO_IN, on_pidfd, vm);
    g_autofree char *started = g_build_filename(vm->rundir, "started", NULL);
    g_autofree char *text = NULL;
    vm->started_at = g_file_get_contents(started, &text, NULL, NULL) ? g_ascii_strtoll(text, NULL, 10)
                                                                     : g_get_real_time() / G_USEC_PER_SEC;
    const char *state = json_object_has_member(st, "state") ? json_object_get_string_member(st, "state") : "running";
    domus_vm_set_state(vm->iface, !g_strcmp0(state, "paused") ? "paused" : "running");
    domus_vm_set_pid(vm->iface, (guint)pid);
    vm_instance_tick(vm);
}

struct vm_instance *vm_instance_new(struct vm_record *rec)
{
    struct vm_instance *vm = g_new0(struct vm_instance, 1);
    vm->rec = rec;
    vm->pidfd = -1;
    vm->path = domus_vm_object_path(rec->name);
    vm->rundir = library_runtime_dir(rec->name);
    vm->control_path = g_build_filename(vm->rundir, "control.sock", NULL);
    vm->serial_path = g_build_filename(vm->rundir, "serial.sock", NULL);
    vm->log_path = g_build_filename(rec->dir, "logs", "vmm.log", NULL);
    vm->object = domus_object_skeleton_new(vm->path);
    vm->iface = domus_vm_skeleton_new();
    domus_vm_set_name(vm->iface, rec->name);
    domus_vm_set_state(vm->iface, "stopped");
    domus_vm_set_memory(vm->iface, rec->memory);
    domus_vm_set_cpus(vm->iface, rec->cpus);
    domus_vm_set_template(vm->iface, rec->template_id ? rec->template_id : "");
    domus_vm_set_last_error(vm->iface, "");
    g_signal_connect(vm->iface, "handle-start", G_CALLBACK(handle_start), vm);
    g_signal_connect(vm->iface, "handle-stop", G_CALLBACK(handle_stop), vm);
    g_signal_connect(vm->iface, "handle-pause", G_CALLBACK(handle_pause), vm);
    g_signal_connect(vm->iface, "handle-resume", G_CALLBACK(handle_resume), vm);
    g_signal_connect(vm->iface, "handle-reset", G_CALLBACK(handle_reset), vm);
    g_signal_connect(vm->iface, "handle-open-console", G_CALLBACK(handle_open_console), vm);
    g_signal_connect(vm->iface, "handle-get-info", G_CALLBACK(handle_get_info), vm);
    g_signal_connect(vm->iface, "handle-snapshot-create", G_CALLBACK(handle_snapshot_create), vm);
    g_signal_connect(vm->iface, "handle-snapshot-revert", G_CALLBACK(handle_snapshot_revert), vm);
    g_signal_connect(vm->iface, "handle-snapshot-delete", G_CALLBACK(handle_snapshot_delete), vm);
    g_signal_connect(vm->iface, "handle-snapshot-list", G_CALLBACK(handle_snapshot_list), vm);
    g_signal_connect(vm->iface, "handle-set-config", G_CALLBACK(handle_set_config), vm);
    g_signal_connect(vm->iface, "handle-set-link", G_CALLBACK(handle_set_link), vm);
    g_signal_connect(vm->iface, "handle-snapshot-tree", G_CALLBACK(handle_snapshot_tree), vm);
    g_signal_connect(vm->iface, "handle-suspend", G_CALLBACK(handle_suspend), vm);
    domus_object_skeleton_set_vm(vm->object, vm->iface);
    adopt(vm);
    return vm;
}

void vm_instance_free(struct vm_instance *vm)
{
    /* Only for stopped VMs (delete) and at domusd exit, where running VMMs
     * are left running on purpose, to be adopted by the next domusd. */
    if (vm->stop_timer)
        g_source_remove(vm->stop_timer);
    if (vm->start_poll)
        g_source_remove(vm->start_poll);
    if (vm->pidfd_watch)
        g_source_remove(vm->pidfd_watch);
    if (vm->pidfd >= 0)
        close(vm->pidfd);
    if (vm->proc)
        g_signal_handlers_disconnect_by_data(vm->proc, vm);
    g_clear_object(&vm->proc);
    g_signal_handlers_disconnect_by_data(vm->iface, vm);
    g_object_unref(vm->iface);
    g_object_unref(vm->object);
    vm_record_free(vm->rec);
    g_free(vm->path); g_free(vm->rundir); g_free(vm->control_path); g_free(vm->serial_path);
    g_free(vm->log_path); g_free(vm->stop_reason); g_free(vm->confinement);
    g_free(vm);
}
