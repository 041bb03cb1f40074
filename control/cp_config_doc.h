/*
 * cp_config_doc.h - one line of meaning per configuration key, and the annotated example
 * configuration written from the parser's table (cp_config.h cp_config_key_info).
 *
 * Role: control plane, off line: `tokexd --print-config-example`, the build's installed
 * /etc/tokex/tokexd.yaml, and the test that keeps the example and the table in step.
 */
#ifndef TOKEX_CP_CONFIG_DOC_H
#define TOKEX_CP_CONFIG_DOC_H

#include <stddef.h>
#include <stdio.h>

/* The meaning of key: a scalar key ("sessions.max"), a list ("firms"), or a list item's
 * key ("firms[].secret"). NULL for a key this file does not describe. */
const char *cp_config_doc(const char *key);
/* The i-th described key, NULL past the last (the test checks each is a real key). */
const char *cp_config_doc_key(size_t i);
/* The value the example sets for a scalar key on purpose (a service's, not the built-in
 * default: "telemetry.file_prefix"), or NULL when the example shows the default. */
const char *cp_config_example_value(const char *key);
/* Writes the annotated example: every key with its meaning, range and default. 0 or
 * -EIO (a write failed). */
int cp_config_example(FILE *f, const char *version);

#endif /* TOKEX_CP_CONFIG_DOC_H */
