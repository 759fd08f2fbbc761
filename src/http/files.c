/* Files into a session: POST /browser/sessions/{id}/files?name=N takes a
 * raw body of any type and streams it into the session's upload area
 * (sessions/uploads.h) as it arrives, so a 50 MiB file never sits in memory.
 * The caps are checked on the Content-Length before a byte is kept; a body
 * refused is read and dropped by the server, as for any refused request.
 * I/O thread. */
#include "http/internal.h"
#include "sessions/session.h"
#include "sessions/uploads.h"

#include <stdlib.h>
#include <string.h>

struct files_upload {
  pb_session *session; /* a reference: the area lives as long */
  pb_upload *file;
  char name[PB_UPLOAD_NAME_MAX + 1];
};

/* The query's name=, URL-decoded by libwebsockets: 1 when present and
 * whole (no NUL inside, not cut short). */
static int query_name(struct lws *wsi, char *out, size_t cap) {
  char frag[1024];
  for (int i = 0;; i++) {
    int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) return 0;
    if (n < 5 || strncmp(frag, "name=", 5)) continue;
    size_t len = (size_t)n - 5;
    if (memchr(frag + 5, '\0', len) || len + 1 > cap) {
      out[0] = '\0';
      return 1; /* refused by the name rule */
    }
    memcpy(out, frag + 5, len);
    out[len] = '\0';
    return 1;
  }
}

static void finish(req *r, struct files_upload *u) {
  char path[4096];
  int64_t bytes = 0;
  pb_upload *f = u->file;
  u->file = NULL;
  int rc = pb_upload_commit(f, path, sizeof(path), &bytes);
  if (rc) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "the file could not be kept");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "path", path);
  cJSON_AddStringToObject(o, "name", u->name);
  cJSON_AddNumberToObject(o, "bytes", (double)bytes);
  answer_json(r, o);
}

void post_session_file(pb_server *s, req *r) {
  char name[PB_UPLOAD_NAME_MAX + 2] = "";
  if (!r->wsi || !query_name(r->wsi, name, sizeof(name))) {
    answer_error(r, PB_CODE_INVALID_REQUEST, "name= (the file's name) is required");
    return;
  }
  if (!pb_uploads_name_ok(name)) {
    answer_error(r, PB_CODE_INVALID_REQUEST,
                 "name must be a plain file name: 1..%d bytes of UTF-8, no '/', '\\', control "
                 "characters, \".\" or \"..\"",
                 PB_UPLOAD_NAME_MAX);
    return;
  }
  char clen[32];
  long long len = 0;
  if (http_header(r->wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, sizeof(clen)) &&
      pb_parse_int(clen, 0, INT64_MAX, &len)) {
    answer_error(r, PB_CODE_INVALID_REQUEST, "the Content-Length is not a number");
    return;
  }
  pb_session *ses =
      pb_sessions_get(s->o.ops->sessions, pb_session_id(r->route_session), r->auth.account_id);
  pb_uploads *area = ses ? pb_session_uploads(ses) : NULL;
  if (!area) {
    pb_session_unref(ses);
    answer_error(r, PB_CODE_SERVICE_UNAVAILABLE, "the session has no upload area");
    return;
  }
  pb_upload *f = NULL;
  switch (pb_upload_begin(area, name, len, &f)) {
    case PB_UPLOAD_OK:
      break;
    case PB_UPLOAD_FILE_TOO_LARGE:
      pb_session_unref(ses);
      answer_error(r, PB_CODE_FILE_TOO_LARGE,
                   "the file is %lld bytes; at most %lld may be uploaded", len,
                   (long long)PB_UPLOAD_FILE_MAX);
      return;
    case PB_UPLOAD_SESSION_FULL:
      pb_session_unref(ses);
      answer_error(
          r, PB_CODE_UPLOADS_FULL,
          "the session may hold %d uploaded files and %lld MiB in all; this one does not fit",
          PB_UPLOAD_SESSION_MAX_FILES, (long long)(PB_UPLOAD_SESSION_MAX_BYTES >> 20));
      return;
    case PB_UPLOAD_BAD_NAME:
    case PB_UPLOAD_FAILED:
      pb_session_unref(ses);
      answer_error(r, PB_CODE_INTERNAL_ERROR, "the file could not be made in the upload area");
      return;
  }
  struct files_upload *u = calloc(1, sizeof(*u));
  if (!u) {
    pb_upload_abort(f);
    pb_session_unref(ses);
    answer_error(r, PB_CODE_SERVICE_UNAVAILABLE, "out of memory; retry shortly");
    return;
  }
  u->session = ses;
  u->file = f;
  pb_strlcpy(u->name, name, sizeof(u->name));
  r->upload = u;
  if (len == 0) finish(r, u); /* no body will come */
}

void upload_body(req *r, const void *in, size_t len) {
  struct files_upload *u = r->upload;
  if (!u->file) return;
  int rc = pb_upload_write(u->file, in, len);
  if (!rc) return;
  pb_upload_abort(u->file);
  u->file = NULL;
  if (rc == PB_ETOOBIG)
    answer_error(r, PB_CODE_FILE_TOO_LARGE, "more bytes came than the Content-Length said");
  else
    answer_error(r, PB_CODE_INTERNAL_ERROR, "the file could not be written");
}

void upload_end(req *r) {
  struct files_upload *u = r->upload;
  if (u->file)
    finish(r, u);
  else if (!r->ready)
    answer_error(r, PB_CODE_INTERNAL_ERROR, "the file could not be kept");
}

void upload_free(req *r) {
  struct files_upload *u = r->upload;
  if (!u) return;
  r->upload = NULL;
  pb_upload_abort(u->file);
  pb_session_unref(u->session);
  free(u);
}
