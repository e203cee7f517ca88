#include "vmm_control.h"
#include "errors.h"

#include <gio/gunixsocketaddress.h>

struct call {
    GSocketConnection *conn;
    GDataInputStream *in;
    char *request;
    guint timeout_id;
    GCancellable *cancel;            /* ours: the timeout cancels it */
};

static void call_free(struct call *c)
{
    if (c->timeout_id)
        g_source_remove(c->timeout_id);
    g_clear_object(&c->in);
    g_clear_object(&c->conn);
    g_clear_object(&c->cancel);
    g_free(c->request);
    g_free(c);
}

static gboolean on_timeout(gpointer data)
{
    struct call *c = data;
    c->timeout_id = 0;
    g_cancellable_cancel(c->cancel);
    return G_SOURCE_REMOVE;
}

static JsonObject *parse_reply(const char *line, GError **error)
{
    g_autoptr(JsonParser) p = json_parser_new();
    if (!line || !json_parser_load_from_data(p, line, -1, NULL) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "the VMM sent a malformed reply");
        return NULL;
    }
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    if (json_object_has_member(o, "error")) {
        JsonObject *e = json_object_get_object_member(o, "error");
        const char *desc = e && json_object_has_member(e, "desc") ? json_object_get_string_member(e, "desc") : NULL;
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "the VMM refused: %s", desc ? desc : "unknown error");
        return NULL;
    }
    JsonObject *ret = json_object_has_member(o, "return") ? json_object_get_object_member(o, "return") : NULL;
    if (!ret) {
        g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "the VMM sent a reply without \"return\"");
        return NULL;
    }
    return json_object_ref(ret);
}

static char *build_request(const char *command, JsonObject *args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    if (args) {
        json_builder_set_member_name(b, "arguments");
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);
        json_node_set_object(n, args);
        json_builder_add_value(b, n);
    }
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    char *text = json_to_string(root, FALSE);
    char *line = g_strconcat(text, "\n", NULL);
    g_free(text);
    return line;
}

static void on_line(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GTask) task = data;
    GError *err = NULL;
    g_autofree char *line = g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(src), res, NULL, &err);
    if (err) {
        g_task_return_error(task, err);
        return;
    }
    JsonObject *ret = parse_reply(line, &err);
    if (ret)
        g_task_return_pointer(task, ret, (GDestroyNotify)json_object_unref);
    else
        g_task_return_error(task, err);
}

static void on_written(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    struct call *c = g_task_get_task_data(task);
    GError *err = NULL;
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, NULL, &err)) {
        g_task_return_error(task, err);
        g_object_unref(task);
        return;
    }
    c->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(c->conn)));
    g_data_input_stream_read_line_async(c->in, G_PRIORITY_DEFAULT, c->cancel, on_line, task);
}

static void on_connected(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    struct call *c = g_task_get_task_data(task);
    GError *err = NULL;
    c->conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, &err);
    if (!c->conn) {
        g_task_return_error(task, err);
        g_object_unref(task);
        return;
    }
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
    g_output_stream_write_all_async(out, c->request, strlen(c->request), G_PRIORITY_DEFAULT, c->cancel,
                                    on_written, task);
}

void vmm_control_call(const char *socket_path, const char *command, JsonObject *args, guint timeout_ms,
                      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    struct call *c = g_new0(struct call, 1);
    c->cancel = cancellable ? g_object_ref(cancellable) : g_cancellable_new();
    c->request = build_request(command, args);
    GTask *task = g_task_new(NULL, c->cancel, callback, user_data);
    g_task_set_task_data(task, c, (GDestroyNotify)call_free);
    c->timeout_id = g_timeout_add(timeout_ms, on_timeout, c);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);
    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(addr), c->cancel, on_connected, task);
}

JsonObject *vmm_control_call_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

JsonObject *vmm_control_call_sync(const char *socket_path, const char *command, JsonObject *args,
                                  guint timeout_ms, GError **error)
{
    g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, error);
    if (!s)
        return NULL;
    g_socket_set_timeout(s, (timeout_ms + 999) / 1000);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);
    if (!g_socket_connect(s, addr, NULL, error))
        return NULL;
    g_autoptr(GSocketConnection) conn = g_socket_connection_factory_create_connection(s);
    g_autofree char *req = build_request(command, args);
    if (!g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), req, strlen(req), NULL, NULL, error))
        return NULL;
    g_autoptr(GDataInputStream) in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    g_autofree char *line = g_data_input_stream_read_line(in, NULL, NULL, error);
    if (!line) {
        if (error && !*error)
            g_set_error(error, DOMUS_ERROR, DOMUS_ERROR_FAILED, "the VMM closed the control socket");
        return NULL;
    }
    return parse_reply(line, error);
}
