#ifndef PB_HTTP_DOCS_H
#define PB_HTTP_DOCS_H
/* The API reference page served at GET /docs, rendered from the OpenAPI
 * document GET /openapi.json serves (http/openapi.c), so the page, the
 * document and the route table cannot drift. Pure: no I/O, any thread. */
#include <stddef.h>

/* The page's cap: a document that would render larger is refused. */
#define PB_DOCS_MAX (8u << 20)

/* One `ppod` command that does what an operation does: the CLI's line for
 * the reference's examples. The table is the one place the mapping lives
 * (tests/unit/test_docs.c checks each command exists in the CLI). */
typedef struct {
  const char *method; /* "get", "post", "delete" */
  const char *path;   /* as in the OpenAPI document */
  const char *ppod;   /* the command line, "ppod ..." */
} pb_docs_cli;

/* The table, NULL-terminated (a row with path NULL ends it). */
extern const pb_docs_cli pb_docs_cli_table[];

/* Renders the page from openapi_json (borrowed). On success *html is
 * NUL-terminated, *len its length (may be NULL), and the caller frees it
 * with free(); *csp is the Content-Security-Policy the page needs (the
 * hashes of its inline style and script; free() it too). Every string from
 * the document is HTML-escaped. PB_EINVAL for a document that is not an
 * OpenAPI object, PB_ETOOBIG over PB_DOCS_MAX, PB_ENOMEM. */
int pb_docs_render(const char *openapi_json, char **html, size_t *len, char **csp);

#endif
