/* The control socket: newline-delimited JSON requests and replies on a
 * UNIX stream socket, served on the I/O thread. Each client is independent:
 * a bad request earns that client an error reply, and only a client that
 * floods us (a line over 64 KiB, or replies it never reads) is dropped. */
#include "control.h"
#include "core/config.h"
#include "core/event_loop.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "error_msg.h"
#include "block/block_set.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LINE      65536
#define MAX_PENDING   65536          /* unread reply bytes before we give up on a client */
#define MAX_CLIENTS   16
#define MAX_COMMANDS  16

struct client {
    int fd;
    GString *in, *out;
};

static struct {
    struct vm *vm;
    int listen_fd;
    char *path;
    struct client *clients[MAX_CLIENTS];
} ctl = { .listen_fd = -1 };

static struct {
    const char *name;
    control_command_fn fn;
    void *opaque;
} commands[MAX_COMMANDS];
static unsigned ncommands;

int control_add_command(const char *name, control_command_fn fn, void *opaque)
{
    if (ncommands >= MAX_COMMANDS)
        return -ENOSPC;
    commands[ncommands++] = (typeof(commands[0])){ name, fn, opaque };
    return 0;
}

static void client_free(struct client *c)
{
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (ctl.clients[i] == c)
            ctl.clients[i] = NULL;
    event_loop_del(ctl.vm->loop, c->fd);
    close(c->fd);
    g_string_free(c->in, TRUE);
    g_string_free(c->out, TRUE);
    free(c);
}

/* Sends what the socket takes; the rest waits for EPOLLOUT. False if the
 * client is gone or hopelessly behind. */
static bool client_flush(struct client *c)
{
    while (c->out->len) {
        ssize_t n = send(c->fd, c->out->str, c->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return false;
        g_string_erase(c->out, 0, n);
    }
    if (c->out->len > MAX_PENDING)
        return false;
    event_loop_modify(ctl.vm->loop, c->fd, EPOLLIN | (c->out->len ? EPOLLOUT : 0));
    return true;
}

static void reply_node(struct client *c, JsonNode *node)
{
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, node);
    gsize len;
    gchar *text = json_generator_to_data(gen, &len);
    g_string_append_len(c->out, text, (gssize)len);
    g_string_append_c(c->out, '\n');
    g_free(text);
    g_object_unref(gen);
    json_node_unref(node);
}

/* {"return": <value>} or {"error": {"class": …, "desc": …}}, with the request's "id" echoed. */
static JsonBuilder *reply_begin(JsonNode *id)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    if (id) {
        json_builder_set_member_name(b, "id");
        json_builder_add_value(b, json_node_copy(id));
    }
    return b;
}

static void reply_end(struct client *c, JsonBuilder *b)
{
    json_builder_end_object(b);
    reply_node(c, json_builder_get_root(b));
    g_object_unref(b);
}

static void reply_error(struct client *c, JsonNode *id, const char *cls, const char *desc)
{
    JsonBuilder *b = reply_begin(id);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "class");
    json_builder_add_string_value(b, cls);
    json_builder_set_member_name(b, "desc");
    json_builder_add_string_value(b, desc);
    json_builder_end_object(b);
    reply_end(c, b);
}

static void reply_empty(struct client *c, JsonNode *id)
{
    JsonBuilder *b = reply_begin(id);
    json_builder_set_member_name(b, "return");
    json_builder_begin_object(b);
    json_builder_end_object(b);
    reply_end(c, b);
}

static void reply_status(struct client *c, JsonNode *id)
{
    struct vm *vm = ctl.vm;
    JsonBuilder *b = reply_begin(id);
    json_builder_set_member_name(b, "return");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    if (vm->cfg && vm->cfg->name)
        json_builder_add_string_value(b, vm->cfg->name);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, vm_state_name(__atomic_load_n(&vm->state, __ATOMIC_RELAXED)));
    json_builder_set_member_name(b, "cpus");
    json_builder_add_int_value(b, vm->ncpus);
    json_builder_set_member_name(b, "memory");
    json_builder_add_int_value(b, (gint64)vm->mem.size);
    json_builder_set_member_name(b, "pid");
    json_builder_add_int_value(b, getpid());
    json_builder_set_member_name(b, "powerdown-requested");
    json_builder_add_boolean_value(b, vm->powerdown_requested);
    json_builder_end_object(b);
    reply_end(c, b);
}

/* A registered command: true if @cmd was one. */
static bool run_device_command(struct client *c, JsonNode *id, const char *cmd, JsonObject *obj)
{
    for (unsigned i = 0; i < ncommands; i++) {
        if (strcmp(commands[i].name, cmd))
            continue;
        JsonNode *a = json_object_get_member(obj, "arguments");
        if (a && !JSON_NODE_HOLDS_OBJECT(a)) {
            reply_error(c, id, "GenericError", "\"arguments\" must be an object");
            return true;
        }
        const char *cls = NULL;
        char *desc = NULL;
        JsonNode *ret = commands[i].fn(commands[i].opaque, a ? json_node_get_object(a) : NULL, &cls, &desc);
        if (cls) {
            reply_error(c, id, cls, desc ? desc : "failed");
        } else if (ret) {
            JsonBuilder *b = reply_begin(id);
            json_builder_set_member_name(b, "return");
            json_builder_add_value(b, ret);
            reply_end(c, b);
        } else {
            reply_empty(c, id);
        }
        free(desc);
        return true;
    }
    return false;
}

static const char *member_string(JsonObject *obj, const char *name)
{
    JsonNode *n = json_object_get_member(obj, name);
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

struct disk_snapshot_op {
    const char *name;
    bool apply;
    bool done;
};

static int disk_snapshot_while_paused(void *opaque, char **error)
{
    struct disk_snapshot_op *op = opaque;
    int r = block_set_snapshot(op->name, op->apply, error);
    op->done = r == 0;
    return r;
}

/* A save that failed after the disks were snapshotted takes them back (still paused). */
static void disk_snapshot_undo(void *opaque)
{
    struct disk_snapshot_op *op = opaque;
    if (op->done && !op->apply)
        block_set_snapshot_delete(op->name);
}

/* snapshot-save / snapshot-load {"path": P, "paused": bool,
 * "disk-snapshot": NAME, "ram": "auto"|"lazy"|"copy"} (the members may
 * also sit in an "arguments" object): runs here on the
 * I/O thread, so no device handler runs meanwhile. */
static void handle_snapshot(struct client *c, JsonNode *id, JsonObject *obj, bool load)
{
    JsonNode *args = json_object_get_member(obj, "arguments");
    if (args && JSON_NODE_HOLDS_OBJECT(args))    /* QMP style, as domusd sends them */
        obj = json_node_get_object(args);
    const char *path = member_string(obj, "path");
    const char *disk = member_string(obj, "disk-snapshot");
    const char *ram = member_string(obj, "ram");
    JsonNode *paused = json_object_get_member(obj, "paused");
    if (!path || !*path) {
        reply_error(c, id, "GenericError", "missing \"path\" string");
        return;
    }
    struct snapshot_request req = { .path = path };
    if (paused && JSON_NODE_HOLDS_VALUE(paused) && json_node_get_value_type(paused) == G_TYPE_BOOLEAN)
        req.stay_paused = json_node_get_boolean(paused);
    if (ram && !strcmp(ram, "lazy"))
        req.ram = SNAPSHOT_RAM_LAZY;
    else if (ram && !strcmp(ram, "copy"))
        req.ram = SNAPSHOT_RAM_COPY;
    else if (ram && strcmp(ram, "auto")) {
        reply_error(c, id, "GenericError", "\"ram\" must be auto, lazy or copy");
        return;
    }
    struct disk_snapshot_op op = { .name = disk, .apply = load };
    if (disk) {
        req.while_paused = disk_snapshot_while_paused;
        req.undo = disk_snapshot_undo;
        req.opaque = &op;
    }
    struct snapshot_result res;
    char *err = NULL;
    int r = load ? vm_snapshot_load(ctl.vm, &req, &res, &err) : vm_snapshot_save(ctl.vm, &req, &res, &err);
    if (r < 0) {
        reply_error(c, id, r == -ENOTSUP ? "NotSupported" : "GenericError", err ? err : strerror(-r));
        free(err);
        return;
    }
    JsonBuilder *b = reply_begin(id);
    json_builder_set_member_name(b, "return");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "pause-ms");
    json_builder_add_double_value(b, res.pause_ms);
    json_builder_set_member_name(b, "total-ms");
    json_builder_add_double_value(b, res.total_ms);
    json_builder_set_member_name(b, load ? "lazy" : "ram-bytes");
    if (load)
        json_builder_add_boolean_value(b, res.lazy);
    else
        json_builder_add_int_value(b, (gint64)res.ram_bytes);
    json_builder_end_object(b);
    reply_end(c, b);
}

static void handle_line(struct client *c, const char *line, size_t len)
{
    JsonParser *parser = json_parser_new();
    GError *err = NULL;
    if (!json_parser_load_from_data(parser, line, (gssize)len, &err)) {
        reply_error(c, NULL, "GenericError", err ? err->message : "invalid JSON");
        g_clear_error(&err);
        g_object_unref(parser);
        return;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        reply_error(c, NULL, "GenericError", "request must be a JSON object");
        g_object_unref(parser);
        return;
    }
    JsonObject *obj = json_node_get_object(root);
    JsonNode *id = json_object_get_member(obj, "id");
    JsonNode *exec = json_object_get_member(obj, "execute");
    const char *cmd = exec && JSON_NODE_HOLDS_VALUE(exec) && json_node_get_value_type(exec) == G_TYPE_STRING
                          ? json_node_get_string(exec) : NULL;
    struct vm *vm = ctl.vm;
    if (!cmd) {
        reply_error(c, id, "GenericError", "missing \"execute\" string");
    } else if (!strcmp(cmd, "status")) {
        reply_status(c, id);
    } else if (!strcmp(cmd, "pause")) {
        vm_request(vm, VM_REQ_PAUSE);
        reply_empty(c, id);
    } else if (!strcmp(cmd, "resume")) {
        vm_request(vm, VM_REQ_RESUME);
        reply_empty(c, id);
    } else if (!strcmp(cmd, "powerdown")) {
        vm_powerdown(vm);
        reply_empty(c, id);
    } else if (!strcmp(cmd, "reset")) {
        vm_request(vm, VM_REQ_RESET);
        reply_empty(c, id);
    } else if (!strcmp(cmd, "snapshot-save") || !strcmp(cmd, "snapshot-load")) {
        handle_snapshot(c, id, obj, !strcmp(cmd, "snapshot-load"));
    } else if (!strcmp(cmd, "quit")) {
        vm_request(vm, VM_REQ_POWEROFF);
        reply_empty(c, id);
    } else if (!run_device_command(c, id, cmd, obj)) {
        char *desc = g_strdup_printf("unknown command '%s'", cmd);
        reply_error(c, id, "CommandNotFound", desc);
        g_free(desc);
    }
    g_object_unref(parser);
}

static void on_client(void *opaque, uint32_t events)
{
    struct client *c = opaque;
    if (events & EPOLLOUT && !client_flush(c)) {
        client_free(c);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        client_free(c);
        return;
    }
    g_string_append_len(c->in, buf, n);
    char *nl;
    while ((nl = memchr(c->in->str, '\n', c->in->len))) {
        size_t len = (size_t)(nl - c->in->str);
        if (len && c->in->str[len - 1] == '\r')
            len--;                   /* tolerate CRLF from interactive tools */
        bool blank = strspn(c->in->str, " \t\r") >= len;
        if (!blank)
            handle_line(c, c->in->str, len);
        g_string_erase(c->in, 0, nl - c->in->str + 1);
    }
    if (c->in->len > MAX_LINE || !client_flush(c))
        client_free(c);
}

static void on_accept(void *opaque, uint32_t events)
{
    int fd = accept4(ctl.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    unsigned slot = 0;
    while (slot < MAX_CLIENTS && ctl.clients[slot])
        slot++;
    struct client *c = slot < MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        close(fd);                   /* full: the newcomer is refused, others keep going */
        return;
    }
    c->fd = fd;
    c->in = g_string_new(NULL);
    c->out = g_string_new(NULL);
    if (event_loop_add(ctl.vm->loop, fd, EPOLLIN, on_client, c) < 0) {
        close(fd);
        g_string_free(c->in, TRUE);
        g_string_free(c->out, TRUE);
        free(c);
        return;
    }
    ctl.clients[slot] = c;
}

/* A socket file there may be a leftover from a crash (connect is refused:
 * remove it) or belong to a live VMM (connect succeeds: refuse). */
static int claim_path(const char *path, const struct sockaddr_un *sa, char **error)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        set_error(error, "%s exists and is not a socket", path);
        return -EEXIST;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    close(fd);
    if (r == 0) {
        set_error(error, "another VMM is listening on %s", path);
        return -EADDRINUSE;
    }
    unlink(path);
    return 0;
}

int control_open(struct vm *vm, const char *path, char **error)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (ctl.listen_fd >= 0) {
        set_error(error, "control socket already open");
        return -EBUSY;
    }
    if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
        set_error(error, "bad socket path");
        return -EINVAL;
    }
    strcpy(sa.sun_path, path);
    int r = claim_path(path, &sa, error);
    if (r < 0) {
        if (error && !*error)
            set_error(error, "%s: %s", path, strerror(-r));
        return r;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
        r = -errno;
        set_error(error, "cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return r;
    }
    ctl.vm = vm;
    ctl.listen_fd = fd;
    r = event_loop_add(vm->loop, fd, EPOLLIN, on_accept, NULL);
    if (r < 0) {
        set_error(error, "cannot watch %s: %s", path, strerror(-r));
        close(fd);
        unlink(path);
        ctl.listen_fd = -1;
        return r;
    }
    ctl.path = strdup(path);
    return 0;
}

/* Called once the I/O thread has stopped (or from it). */
void control_close(void)
{
    if (ctl.listen_fd < 0)
        return;
    for (unsigned i = 0; i < MAX_CLIENTS; i++)
        if (ctl.clients[i])
            client_free(ctl.clients[i]);
    event_loop_del(ctl.vm->loop, ctl.listen_fd);
    close(ctl.listen_fd);
    ctl.listen_fd = -1;
    if (ctl.path) {
        unlink(ctl.path);
        free(ctl.path);
        ctl.path = NULL;
    }
}
