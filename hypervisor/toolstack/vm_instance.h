/* One VM as domusd manages it: its record, its D-Bus object, and while it
 * runs, its domus-vmm process (a child, or adopted after a domusd restart
 * through its control socket and a pidfd). */
#pragma once
#include "domus-dbus.h"
#include "library.h"

struct vm_instance {
    struct vm_record *rec;
    DomusObjectSkeleton *object;
    DomusVM *iface;
    char *path;                      /* D-Bus object path */
    char *rundir, *control_path, *serial_path, *log_path;

    GSubprocess *proc;               /* when it is our child */
    int pid, pidfd;                  /* pidfd when adopted */
    guint pidfd_watch;
    gint64 started_at;               /* unix seconds */
    bool stop_requested;
    char *stop_reason;
    guint stop_timer;
    GSList *stop_waiters;            /* GDBusMethodInvocation *, completed once the VMM is gone */
    GDBusMethodInvocation *start_inv;
    guint start_poll;
    gint64 start_deadline;
    gint64 vnc_wait_until;           /* start waits this long for domus-vnc's port */
    bool start_polling;
    bool busy;                       /* a snapshot or clone holds the VM */
    bool placing;                    /* its VMM is not yet in its scope or cgroup */
    char *confinement;               /* where its VMM runs, as cgroup_place_vm said */
    bool display_channel;            /* started with a display: rundir/display.sock */
    const char *display_client;      /* "vnc", "sdl": the client domus-vmm starts too, or NULL */

    /* GetStats bookkeeping */
    gint64 sample_us;
    guint64 cpu_ticks, read_bytes, write_bytes;
    double cpu_pct, read_rate, write_rate;
};

/* Wraps a loaded record; adopts a VMM still running from an earlier domusd. */
struct vm_instance *vm_instance_new(struct vm_record *rec);
void vm_instance_free(struct vm_instance *vm);
const char *vm_instance_state(struct vm_instance *vm);
bool vm_instance_is_active(struct vm_instance *vm);   /* a VMM process exists */
/* Refreshes Uptime; called every second. */
void vm_instance_tick(struct vm_instance *vm);
/* The last @n lines of this run's VMM log. */
char *vm_instance_log_tail(struct vm_instance *vm, unsigned n);
/* Samples /proc for GetStats; fills @b with this VM's entry. */
void vm_instance_stats(struct vm_instance *vm, GVariantBuilder *b);
