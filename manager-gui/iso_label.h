/* Guessing a template from an installer ISO's volume label (ISO 9660
 * primary volume descriptor), e.g. "Debian 12.5.0 amd64 n" -> debian-desktop. */
#pragma once
#include <glib.h>

/* The volume label, trimmed, or NULL with @error set (not an ISO 9660 image). */
char *iso_volume_label(const char *path, GError **error);
/* The template id for @label, or NULL when nothing matches. */
const char *iso_guess_template(const char *label);
