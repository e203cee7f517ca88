/* The guest's display: virtio-gpu, a virtio keyboard and tablet, and the
 * display channel server they talk through, plus the clients --display
 * asks for (domus-vnc, domus-view) as separate processes. */
#pragma once
struct vm;

/* Sets everything up for vm->cfg->displays (nothing when there are none).
 * Prints its own error messages; returns -errno. */
int display_setup(struct vm *vm);
/* Before the VMM re-executes itself for a guest reboot: keeps the spawned
 * clients' channel sockets open across exec so they stay attached. */
void display_prepare_reexec(void);
void display_close(void);
