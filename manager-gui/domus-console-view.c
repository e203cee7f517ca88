#include "domus-console-view.h"

#include <gio/gunixfdlist.h>

struct _DomusConsoleView {
    GtkBox parent;
    GtkTextView *text;
    GtkEntry *entry;
    GSocketConnection *conn;
    GCancellable *cancel;
    guint8 buf[4096];
    gboolean in_escape;
};

G_DEFINE_FINAL_TYPE(DomusConsoleView, domus_console_view, GTK_TYPE_BOX)

/* Terminal escape sequences are dropped: this is a log view, not a terminal. */
static void append(DomusConsoleView *self, const guint8 *data, gsize n)
{
    GString *s = g_string_sized_new(n);
    for (gsize i = 0; i < n; i++) {
        guint8 c = data[i];
        if (self->in_escape) {
            if ((c >= '@' && c <= '~' && c != '[') )
                self->in_escape = FALSE;
            continue;
        }
        if (c == 0x1b) { self->in_escape = TRUE; continue; }
        if (c == '\r' || (c < 0x20 && c != '\n' && c != '\t'))
            continue;
        g_string_append_c(s, (char)c);
    }
    GtkTextBuffer *b = gtk_text_view_get_buffer(self->text);
    GtkTextIter end;
    gtk_text_buffer_get_end_iter(b, &end);
    g_autofree char *valid = g_utf8_make_valid(s->str, (gssize)s->len);
    gtk_text_buffer_insert(b, &end, valid, -1);
    g_string_free(s, TRUE);
    gtk_text_buffer_get_end_iter(b, &end);
    GtkTextMark *mark = gtk_text_buffer_get_mark(b, "end");
    if (!mark)
        mark = gtk_text_buffer_create_mark(b, "end", &end, FALSE);
    gtk_text_buffer_move_mark(b, mark, &end);
    gtk_text_view_scroll_mark_onscreen(self->text, mark);
}

static void read_more(DomusConsoleView *self);

static void on_read(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) err = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &err);
    if (n < 0 && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
    DomusConsoleView *self = data;
    if (n <= 0) {
        append(self, (const guint8 *)"\n[console closed]\n", 18);
        g_clear_object(&self->conn);
        return;
    }
    append(self, self->buf, (gsize)n);
    read_more(self);
}

static void read_more(DomusConsoleView *self)
{
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(self->conn)), self->buf,
                              sizeof self->buf, G_PRIORITY_DEFAULT, self->cancel, on_read, self);
}

struct attach_ctx {
    DomusConsoleView *self;
    void (*on_error)(GError *, gpointer);
    gpointer data;
};

static void on_opened(GObject *src, GAsyncResult *res, gpointer data)
{
    struct attach_ctx *ctx = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(GVariant) fdv = NULL;
    g_autoptr(GUnixFDList) fds = NULL;
    if (!domus_vm_call_open_console_finish(DOMUS_VM(src), &fdv, &fds, res, &err)) {
        if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED) && ctx->on_error)
            ctx->on_error(err, ctx->data);
        g_free(ctx);
        return;
    }
    DomusConsoleView *self = ctx->self;
    g_free(ctx);
    int fd = g_unix_fd_list_get(fds, g_variant_get_handle(fdv), &err);
    g_autoptr(GSocket) sock = fd >= 0 ? g_socket_new_from_fd(fd, &err) : NULL;
    if (!sock)
        return;
    self->conn = g_socket_connection_factory_create_connection(sock);
    read_more(self);
}

void domus_console_view_attach(DomusConsoleView *self, DomusVM *vm,
                               void (*on_error)(GError *, gpointer), gpointer data)
{
    domus_console_view_detach(self);
    self->cancel = g_cancellable_new();
    struct attach_ctx *ctx = g_new0(struct attach_ctx, 1);
    *ctx = (struct attach_ctx){ self, on_error, data };
    domus_vm_call_open_console(vm, NULL, self->cancel, on_opened, ctx);
}

void domus_console_view_detach(DomusConsoleView *self)
{
    if (self->cancel)
        g_cancellable_cancel(self->cancel);
    g_clear_object(&self->cancel);
    g_clear_object(&self->conn);
}

char *domus_console_view_get_text(DomusConsoleView *self)
{
    GtkTextBuffer *b = gtk_text_view_get_buffer(self->text);
    GtkTextIter s, e;
    gtk_text_buffer_get_bounds(b, &s, &e);
    return gtk_text_buffer_get_text(b, &s, &e, FALSE);
}

void domus_console_view_send(DomusConsoleView *self, const char *line)
{
    if (!self->conn)
        return;
    g_autofree char *l = g_strconcat(line, "\n", NULL);
    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(self->conn)), l, strlen(l),
                              NULL, NULL, NULL);
}

static void on_activate(GtkEntry *entry, gpointer data)
{
    GtkEntryBuffer *b = gtk_entry_get_buffer(entry);
    domus_console_view_send(DOMUS_CONSOLE_VIEW(data), gtk_entry_buffer_get_text(b));
    gtk_entry_buffer_set_text(b, "", 0);
}

static void domus_console_view_dispose(GObject *o)
{
    domus_console_view_detach(DOMUS_CONSOLE_VIEW(o));
    G_OBJECT_CLASS(domus_console_view_parent_class)->dispose(o);
}

static void domus_console_view_class_init(DomusConsoleViewClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = domus_console_view_dispose;
}

static void domus_console_view_init(DomusConsoleView *self)
{
    gtk_orientable_set_orientation(GTK_ORIENTABLE(self), GTK_ORIENTATION_VERTICAL);
    gtk_box_set_spacing(GTK_BOX(self), 6);
    GtkWidget *scroll = gtk_scrolled_window_new();
    gtk_widget_set_vexpand(scroll, TRUE);
    self->text = GTK_TEXT_VIEW(gtk_text_view_new());
    gtk_text_view_set_editable(self->text, FALSE);
    gtk_text_view_set_monospace(self->text, TRUE);
    gtk_text_view_set_wrap_mode(self->text, GTK_WRAP_CHAR);
    gtk_widget_add_css_class(GTK_WIDGET(self->text), "console-view");
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroll), GTK_WIDGET(self->text));
    gtk_box_append(GTK_BOX(self), scroll);
    self->entry = GTK_ENTRY(gtk_entry_new());
    gtk_entry_set_placeholder_text(self->entry, "Type a line for the serial console and press Enter");
    g_signal_connect(self->entry, "activate", G_CALLBACK(on_activate), self);
    gtk_box_append(GTK_BOX(self), GTK_WIDGET(self->entry));
}

GtkWidget *domus_console_view_new(void)
{
    return g_object_new(DOMUS_TYPE_CONSOLE_VIEW, NULL);
}
