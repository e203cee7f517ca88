/* A small AML (ACPI Machine Language) encoder: just what the DSDT needs.
 *
 * Objects that carry a PkgLength (Scope, Device, Method, Package, If, Else)
 * are written with an open/close pair: open emits the opcode and returns a
 * mark, the body is appended, and close inserts the PkgLength at the mark.
 * The length is only known once the body is written, and the PkgLength's
 * own size (1-4 bytes) depends on it, so inserting afterwards is the one
 * way to get the shortest encoding without building a tree. Closes must
 * nest (last opened, first closed); inner inserts then never move an
 * outer mark. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes the callers write directly (ACPI spec, section 20 "AML"). */
enum {
    AML_ZERO = 0x00, AML_ONE = 0x01, AML_ONES = 0xFF,
    AML_NAME_OP = 0x08, AML_SCOPE_OP = 0x10, AML_BUFFER_OP = 0x11,
    AML_PACKAGE_OP = 0x12, AML_METHOD_OP = 0x14,
    AML_ARG0 = 0x68, AML_OR_OP = 0x7D,
    AML_CREATE_DWORD_FIELD_OP = 0x8A,
    AML_LNOT_OP = 0x92, AML_LEQUAL_OP = 0x93,
    AML_IF_OP = 0xA0, AML_ELSE_OP = 0xA1, AML_RETURN_OP = 0xA4,
    AML_EXT_PREFIX = 0x5B, AML_EXT_DEVICE_OP = 0x82,
};

/* ---- PkgLength --------------------------------------------------------
 * The value counts the PkgLength bytes themselves plus what follows.
 * 1 byte holds up to 63; n = 2..4 bytes hold 4 + 8*(n-1) bits. */
#define AML_PKGLEN_MAX 0x0FFFFFFFu

/* Encodes @value into @out; returns the byte count (1-4), 0 if too big. */
size_t aml_pkglen_encode(uint8_t out[4], size_t value);
/* Decodes a PkgLength at @p (at most @avail bytes); returns the bytes it
 * occupies and stores the value, or 0 if it is truncated or malformed. */
size_t aml_pkglen_decode(const uint8_t *p, size_t avail, size_t *value);

/* ---- data and names --------------------------------------------------- */
void aml_byte(GByteArray *a, uint8_t b);
/* An integer in the shortest form: Zero/One/Ones or Byte/Word/DWord/QWord. */
void aml_int(GByteArray *a, uint64_t v);
void aml_string(GByteArray *a, const char *s);
/* A NameString: "\\_SB.PCI0", "^FOO", "_HID"; segments shorter than four
 * characters are padded with '_'. */
void aml_namestring(GByteArray *a, const char *path);
/* Compressed EISA id ("PNP0A08") as the integer ASL's EISAID() yields. */
uint32_t aml_eisaid_value(const char *id);
/* Buffer(len) { bytes } */
void aml_buffer(GByteArray *a, const void *bytes, size_t len);
/* ToUUID("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx") as a 16-byte Buffer. */
void aml_uuid(GByteArray *a, const char *uuid);

/* Name(name, value) shorthands */
void aml_name_int(GByteArray *a, const char *name, uint64_t v);
void aml_name_string(GByteArray *a, const char *name, const char *s);
void aml_name_eisaid(GByteArray *a, const char *name, const char *id);
/* Name(name, ...) whose value the caller writes next. */
void aml_name(GByteArray *a, const char *name);

/* ---- objects with a PkgLength ----------------------------------------- */
size_t aml_scope_open(GByteArray *a, const char *name);
size_t aml_device_open(GByteArray *a, const char *name);
size_t aml_method_open(GByteArray *a, const char *name, unsigned nargs, bool serialized);
/* Package with @count elements (at most 255). */
size_t aml_package_open(GByteArray *a, unsigned count);
/* If (predicate) { ... }: the caller writes the predicate, then the body. */
size_t aml_if_open(GByteArray *a);
size_t aml_else_open(GByteArray *a);
void aml_close(GByteArray *a, size_t mark);

/* ---- resource templates -----------------------------------------------
 * Appended to their own GByteArray, finished with aml_res_end(), then
 * wrapped with aml_buffer(). Address-space descriptors here are what a
 * root bridge produces: fixed min and max, positive decode. */
void aml_res_io(GByteArray *r, uint16_t base, uint8_t len);               /* IO(Decode16, base, base, 1, len) */
void aml_res_irq_noflags(GByteArray *r, unsigned irq);                     /* IRQNoFlags() {irq} */
void aml_res_word_bus(GByteArray *r, uint16_t min, uint16_t max);          /* WordBusNumber */
void aml_res_word_io(GByteArray *r, uint16_t min, uint16_t max);           /* WordIO, EntireRange */
void aml_res_dword_mem(GByteArray *r, uint32_t min, uint32_t max, bool cacheable);
void aml_res_qword_mem(GByteArray *r, uint64_t min, uint64_t max, bool cacheable);
/* EndTag, with the checksum that makes the whole template sum to zero. */
void aml_res_end(GByteArray *r);
