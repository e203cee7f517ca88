#include "domus-console-view.h"

#include <gio/gunixfdlist.h>
#ifdef HAVE_VTE
#include <vte/vte.h>
#endif

#define TRANSCRIPT_MAX (256 * 1024)   /* the plain-text copy keeps the last 128-256 KiB */

struct _DomusConsoleView {
    GtkBox parent;
#ifdef HAVE_VTE
    VteTerminal *term;               /* the guest's serial terminal, keys go back */
#else
    GtkTextView *text;               /* without VTE: a log and a line entry */
    GtkEntry *entry;
#endif
    GString *transcript;             /* what the guest printed, escape sequences dropped */
    GSocketConnection *conn;
    DomusVM *vm;                     /* whose console the text is */
    GCancellable *cancel;
    guint8 buf[4096];
    gboolean in_escape;
};

G_DEFINE_FINAL_TYPE(DomusConsoleView, domus_console_view, GTK_TYPE_BOX)

/* The plain text (for tests, copy and the VTE-less view): terminal escape
 * sequences and carriage returns are dropped. */
static void append_plain(DomusConsoleView *self, GString *s, const guint8 *data, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        guint8 c = data[i];
        if (self->in_escape) {
            if (c >= '@' && c <= '~' && c != '[')
                self->in_escape = FALSE;
            continue;
        }
        if (c == 0x1b) { self->in_escape = TRUE; continue; }
        if (c == '\r' || (c < 0x20 && c != '\n' && c != '\t'))
            continue;
        g_string_append_c(s, (char)c);
    }
}

static void show(DomusConsoleView *self, const guint8 *data, gsize n)
{
    gsize before = self->transcript->len;
    append_plain(self, self->transcript, data, n);
#ifdef HAVE_VTE
    (void)before;
    vte_terminal_feed(self->term, (const char *)data, (gssize)n);
#else
    GtkTextBuffer *b = gtk_text_view_get_buffer(self->text);
    GtkTextIter end;
    gtk_text_buffer_get_end_iter(b, &end);
    g_autofree char *valid = g_utf8_make_valid(self->transcript->str + before, (gssize)(self->transcript->len - before));
    gtk_text_buffer_insert(b, &end, valid, -1);
    gtk_text_buffer_get_end_iter(b, &end);
    GtkTextMark *mark = gtk_text_buffer_get_mark(b, "end");
    if (!mark)
        mark = gtk_text_buffer_create_mark(b, "end", &end, FALSE);
    gtk_text_buffer_move_mark(b, mark, &end);
    gtk_text_view_scroll_mark_onscreen(self->text, mark);
#endif
    if (self->transcript->len > TRANSCRIPT_MAX)
        g_string_erase(self->transcript, 0, (gssize)(self->transcript->len - TRANSCRIPT_MAX / 2));
}

static void clear(DomusConsoleView *self)
{
    g_string_truncate(self->transcript, 0);
    self->in_escape = FALSE;
#ifdef HAVE_VTE
    vte_terminal_reset(self->term, TRUE, TRUE);
    vte_terminal_feed(self->term, "\033[2J\033[H", -1);   /* reset keeps the screen: another VM's lines */
#else
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->text), "", 0);
#endif
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
        static const char closed[] = "\r\n[console closed]\r\n";
        show(self, (const guint8 *)closed, sizeof closed - 1);
        g_clear_object(&self->conn);
        return;
    }
    show(self, self->buf, (gsize)n);
    read_more(self);
}

static void read_more(DomusConsoleView *self)
{
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(self->conn)), self->buf,
                              sizeof self->buf, G_PRIORITY_DEFAULT, self->cancel, on_read, self);
}

void domus_console_view_attach_stream(DomusConsoleView *self, GSocketConnection *conn)
{
    if (!self->cancel)
        self->cancel = g_cancellable_new();
    g_set_object(&self->conn, conn);
    read_more(self);
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
        if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_clear_object(&ctx->self->cancel);    /* the next attach tries again */
            if (ctx->on_error)
                ctx->on_error(err, ctx->data);
        }
        g_free(ctx);
        return;
    }
    DomusConsoleView *self = ctx->self;
    g_free(ctx);
    int fd = g_unix_fd_list_get(fds, g_variant_get_handle(fdv), &err);
    g_autoptr(GSocket) sock = fd >= 0 ? g_socket_new_from_fd(fd, &err) : NULL;
    if (!sock)
        return;
    g_autoptr(GSocketConnection) conn = g_socket_connection_factory_create_connection(sock);
    domus_console_view_attach_stream(self, conn);
}

void domus_console_view_show_vm(DomusConsoleView *self, DomusVM *vm)
{
    if (self->vm == vm)
        return;
    domus_console_view_detach(self);
    clear(self);
    g_set_object(&self->vm, vm);
}

void domus_console_view_attach(DomusConsoleView *self, DomusVM *vm,
                               void (*on_error)(GError *, gpointer), gpointer data)
{
    if (self->cancel && self->vm == vm)
        return;                      /* attached (or attaching) already */
    domus_console_view_detach(self);
    domus_console_view_show_vm(self, vm);
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
    return g_strndup(self->transcript->str, self->transcript->len);
}

static void send_bytes(DomusConsoleView *self, const char *data, gsize n)
{
    if (self->conn)
        g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(self->conn)), data, n, NULL, NULL, NULL);
}

void domus_console_view_send(DomusConsoleView *self, const char *line)
{
    g_autofree char *l = g_strconcat(line, "\n", NULL);
    send_bytes(self, l, strlen(l));
}

GtkWidget *domus_console_view_get_input(DomusConsoleView *self)
{
#ifdef HAVE_VTE
    return GTK_WIDGET(self->term);
#else
    return GTK_WIDGET(self->entry);
#endif
}

#ifdef HAVE_VTE
/* Keys typed into the terminal, as the terminal encodes them (Return is CR). */
static void on_commit(VteTerminal *t, const char *text, guint size, gpointer data)
{
    send_bytes(data, text, size);
}
#else
static void on_activate(GtkEntry *entry, gpointer data)
{
    GtkEntryBuffer *b = gtk_entry_get_buffer(entry);
    domus_console_view_send(DOMUS_CONSOLE_VIEW(data), gtk_entry_buffer_get_text(b));
    gtk_entry_buffer_set_text(b, "", 0);
}
#endif

static void domus_console_view_dispose(GObject *o)
{
    DomusConsoleView *self = DOMUS_CONSOLE_VIEW(o);
    domus_console_view_detach(self);
    g_clear_object(&self->vm);
    G_OBJECT_CLASS(domus_console_view_parent_class)->dispose(o);
}

static void domus_console_view_finalize(GObject *o)
{
    g_string_free(DOMUS_CONSOLE_VIEW(o)->transcript, TRUE);
    G_OBJECT_CLASS(domus_console_view_parent_class)->finalize(o);
}

static void domus_console_view_class_init(DomusConsoleViewClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = domus_console_view_dispose;
    G_OBJECT_CLASS(klass)->finalize = domus_console_view_finalize;
}

static void domus_console_view_init(DomusConsoleView *self)
{
    self->transcript = g_string_new(NULL);
    gtk_orientable_set_orientation(GTK_ORIENTABLE(self), GTK_ORIENTATION_VERTICAL);
    gtk_box_set_spacing(GTK_BOX(self), 6);
#ifdef HAVE_VTE
    self->term = VTE_TERMINAL(vte_terminal_new());
    gtk_widget_set_vexpand(GTK_WIDGET(self->term), TRUE);
    gtk_widget_set_hexpand(GTK_WIDGET(self->term), TRUE);
    vte_terminal_set_scrollback_lines(self->term, 10000);
    vte_terminal_set_scroll_on_output(self->term, TRUE);
    vte_terminal_set_scroll_on_keystroke(self->term, TRUE);
    gtk_widget_add_css_class(GTK_WIDGET(self->term), "console-view");
    g_signal_connect(self->term, "commit", G_CALLBACK(on_commit), self);
    GtkWidget *scroll = gtk_scrolled_window_new();
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroll), GTK_WIDGET(self->term));
    gtk_widget_set_vexpand(scroll, TRUE);
    gtk_box_append(GTK_BOX(self), scroll);
#else
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
#endif
}

GtkWidget *domus_console_view_new(void)
{
    return g_object_new(DOMUS_TYPE_CONSOLE_VIEW, NULL);
}
