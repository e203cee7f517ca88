/* The control socket on a fake VM: replies to good and bad requests,
 * several clients, a flooding client dropped alone, stale and live sockets. */
#include "core/event_loop.h"
#include "core/vm.h"
#include "devices/control.h"
#include "net/net.h"

#include <errno.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct fixture {
    struct vm vm;
    pthread_t thread;
    char *dir, *path;
};

static void *loop_thread(void *arg)
{
    event_loop_run(arg);
    return NULL;
}

static void fixture_setup(struct fixture *f, gconstpointer data)
{
    memset(f, 0, sizeof(*f));
    f->vm.vm_fd = f->vm.kvm_fd = -1;
    f->vm.ncpus = 2;
    f->vm.mem.size = 256 << 20;
    f->vm.state = VM_STATE_RUNNING;
    f->vm.loop = event_loop_new();
    f->dir = g_dir_make_tmp("domus-control-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "ctl.sock", NULL);
}

static void start(struct fixture *f)
{
    char *err = NULL;
    int r = control_open(&f->vm, f->path, &err);
    g_assert_cmpstr(err, ==, NULL);
    g_assert_cmpint(r, ==, 0);
    pthread_create(&f->thread, NULL, loop_thread, f->vm.loop);
}

static void fixture_teardown(struct fixture *f, gconstpointer data)
{
    if (f->thread) {
        event_loop_stop(f->vm.loop);
        pthread_join(f->thread, NULL);
    }
    control_close();
    g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
    event_loop_free(f->vm.loop);
    rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
}

static int connect_path(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(fd, >=, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -errno;
    }
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_str(int fd, const char *s)
{
    g_assert_cmpint(send(fd, s, strlen(s), MSG_NOSIGNAL), ==, (ssize_t)strlen(s));
}

/* Reads one reply line and parses it; the caller unrefs the parser. */
static JsonObject *recv_reply(int fd, JsonParser **parser)
{
    GString *line = g_string_new(NULL);
    char c;
    while (recv(fd, &c, 1, 0) == 1 && c != '\n')
        g_string_append_c(line, c);
    *parser = json_parser_new();
    g_assert_true(json_parser_load_from_data(*parser, line->str, (gssize)line->len, NULL));
    g_string_free(line, TRUE);
    JsonNode *root = json_parser_get_root(*parser);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    return json_node_get_object(root);
}

static const char *error_class(int fd, const char *request)
{
    static char cls[64];
    JsonParser *p;
    send_str(fd, request);
    JsonObject *o = recv_reply(fd, &p);
    g_assert_true(json_object_has_member(o, "error"));
    g_strlcpy(cls, json_object_get_string_member(json_object_get_object_member(o, "error"), "class"),
              sizeof(cls));
    g_object_unref(p);
    return cls;
}

static void test_status(struct fixture *f, gconstpointer data)
{
    start(f);
    int fd = connect_path(f->path);
    g_assert_cmpint(fd, >=, 0);
    JsonParser *p;
    send_str(fd, "{\"execute\":\"status\",\"id\":7}\n");
    JsonObject *o = recv_reply(fd, &p);
    g_assert_cmpint(json_object_get_int_member(o, "id"), ==, 7);
    JsonObject *r = json_object_get_object_member(o, "return");
    g_assert_nonnull(r);
    g_assert_cmpstr(json_object_get_string_member(r, "state"), ==, "running");
    g_assert_cmpint(json_object_get_int_member(r, "cpus"), ==, 2);
    g_assert_cmpint(json_object_get_int_member(r, "memory"), ==, 256 << 20);
    g_assert_cmpint(json_object_get_int_member(r, "pid"), ==, getpid());
    g_object_unref(p);

    send_str(fd, "{\"execute\":\"pause\"}\r\n");
    o = recv_reply(fd, &p);
    g_assert_true(json_object_has_member(o, "return"));
    g_object_unref(p);
    g_assert_cmpint(f->vm.pending, ==, VM_REQ_PAUSE);

    send_str(fd, "{\"execute\":\"powerdown\"}\n");
    o = recv_reply(fd, &p);
    g_assert_true(json_object_has_member(o, "return"));
    g_object_unref(p);
    g_assert_true(f->vm.powerdown_requested);
    close(fd);
}

static void test_bad_requests(struct fixture *f, gconstpointer data)
{
    start(f);
    int fd = connect_path(f->path), other = connect_path(f->path);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(other, >=, 0);
    g_assert_cmpstr(error_class(fd, "this is not json\n"), ==, "GenericError");
    g_assert_cmpstr(error_class(fd, "[1,2,3]\n"), ==, "GenericError");
    g_assert_cmpstr(error_class(fd, "{\"execute\":42}\n"), ==, "GenericError");
    g_assert_cmpstr(error_class(fd, "{\"execute\":\"self-destruct\"}\n"), ==, "CommandNotFound");
    g_assert_cmpint(f->vm.pending, ==, VM_REQ_NONE);

    /* Over 64 KiB without a newline: that client is dropped ... */
    char *flood = g_malloc(70000);
    memset(flood, '{', 70000);
    send(fd, flood, 70000, MSG_NOSIGNAL);
    g_free(flood);
    char c;
    ssize_t r = recv(fd, &c, 1, 0);
    /* closed with our flood unread: end of file or a reset, never a reply */
    g_assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
    close(fd);
    /* ... and the other still gets answers, as does a new one. */
    JsonParser *p;
    send_str(other, "{\"execute\":\"status\"}\n");
    JsonObject *o = recv_reply(other, &p);
    g_assert_true(json_object_has_member(o, "return"));
    g_object_unref(p);
    int late = connect_path(f->path);
    g_assert_cmpstr(error_class(late, "{}\n"), ==, "GenericError");
    close(late);
    close(other);
}

static void test_stale_and_live(struct fixture *f, gconstpointer data)
{
    /* A socket file nobody listens on is replaced. */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, f->path, sizeof(sa.sun_path));
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    close(stale);
    start(f);
    int fd = connect_path(f->path);
    g_assert_cmpint(fd, >=, 0);
    close(fd);

    /* A live listener elsewhere is not stolen from. */
    char *live_path = g_build_filename(f->dir, "live.sock", NULL);
    g_strlcpy(sa.sun_path, live_path, sizeof(sa.sun_path));
    int live = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(bind(live, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(live, 1), ==, 0);
    event_loop_stop(f->vm.loop);
    pthread_join(f->thread, NULL);
    f->thread = 0;
    control_close();
    char *err = NULL;
    g_assert_cmpint(control_open(&f->vm, live_path, &err), ==, -EADDRINUSE);
    g_assert_nonnull(err);
    free(err);
    g_assert_true(g_file_test(live_path, G_FILE_TEST_EXISTS));
    close(live);
    unlink(live_path);
    g_free(live_path);
}

/* set-link (net's registered command) reaches the NIC through its backend;
 * without a NIC or with bad arguments it is an error reply and nothing changes. */
static int link_calls, link_up = -1;
static void record_link(void *opaque, bool up) { link_calls++; link_up = up; }

static void test_set_link(struct fixture *f, gconstpointer data)
{
    static const struct net_backend_ops ops = { .name = "test" };
    static struct net_backend nb = { .ops = &ops };     /* registered for the process's life */
    g_assert_cmpint(control_add_command("set-link", net_control_set_link, &nb), ==, 0);
    start(f);
    int fd = connect_path(f->path);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpstr(error_class(fd, "{\"execute\":\"set-link\",\"arguments\":{\"up\":false}}\n"), ==,
                    "DeviceNotFound");
    nb.client.set_link = record_link;      /* a NIC attaches */
    g_assert_cmpstr(error_class(fd, "{\"execute\":\"set-link\"}\n"), ==, "GenericError");
    g_assert_cmpstr(error_class(fd, "{\"execute\":\"set-link\",\"arguments\":{\"up\":\"no\"}}\n"), ==,
                    "GenericError");
    g_assert_cmpint(link_calls, ==, 0);
    JsonParser *p;
    send_str(fd, "{\"execute\":\"set-link\",\"arguments\":{\"up\":false},\"id\":3}\n");
    JsonObject *o = recv_reply(fd, &p);
    g_assert_true(json_object_has_member(o, "return"));
    g_object_unref(p);
    g_assert_cmpint(link_calls, ==, 1);
    g_assert_cmpint(link_up, ==, 0);
    send_str(fd, "{\"execute\":\"set-link\",\"arguments\":{\"up\":true}}\n");
    o = recv_reply(fd, &p);
    g_assert_true(json_object_has_member(o, "return"));
    g_object_unref(p);
    g_assert_cmpint(link_up, ==, 1);
    close(fd);
}

#define ADD(name, fn) g_test_add(name, struct fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/control/status", test_status);
    ADD("/control/bad-requests", test_bad_requests);
    ADD("/control/stale-and-live", test_stale_and_live);
    ADD("/control/set-link", test_set_link);
    return g_test_run();
}
