#include "cli/client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#define PB_CLI_USER_AGENT "ppod/0.1"
#define PB_CLI_CONNECT_TIMEOUT_MS 10000L

int pb_cli_http_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT) ? PB_ENOMEM : 0; }

void pb_cli_http_cleanup(void) { curl_global_cleanup(); }

typedef struct {
  pb_buf *body;
  int rc; /* why the write callback stopped the transfer */
} sink;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud) {
  sink *s = ud;
  size_t n = size * nmemb;
  s->rc = pb_buf_append(s->body, p, n);
  return s->rc ? 0 : n; /* anything but n aborts the transfer */
}

/* One line saying why the exchange failed, in the terms a user acts on. */
static int explain(CURL *h, CURLcode cc, const sink *s, const pb_cli_request *req,
                   const char *curlmsg, char *err, size_t errcap) {
  long oserr = 0;
  curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
  const char *why = curlmsg[0] ? curlmsg : curl_easy_strerror(cc);
  switch (cc) {
  case CURLE_WRITE_ERROR:
    if (s->rc == PB_ETOOBIG) goto toobig;
    if (s->rc) {
      snprintf(err, errcap, "reading the response: %s", pb_strerror(s->rc));
      return s->rc;
    }
    break;
  case CURLE_FILESIZE_EXCEEDED: goto toobig;
  case CURLE_COULDNT_CONNECT:
    snprintf(err, errcap, "cannot reach %s: %s", req->base_url,
             oserr ? strerror((int)oserr) : why);
    return PB_EIO;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    snprintf(err, errcap, "cannot reach %s: %s", req->base_url, why);
    return PB_EIO;
  case CURLE_OPERATION_TIMEDOUT: {
    curl_off_t connected = 0;
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connected);
    if (!connected)
      snprintf(err, errcap, "cannot reach %s: no connection within %ld s", req->base_url,
               PB_CLI_CONNECT_TIMEOUT_MS / 1000);
    else
      snprintf(err, errcap, "no answer from %s within %ld s", req->base_url,
               req->timeout_ms / 1000);
    return PB_EIO;
  }
  case CURLE_OUT_OF_MEMORY:
    snprintf(err, errcap, "%s", pb_strerror(PB_ENOMEM));
    return PB_ENOMEM;
  default: break;
  }
  snprintf(err, errcap, "request to %s%s failed: %s", req->base_url, req->route, why);
  return PB_EIO;
toobig:
  snprintf(err, errcap, "the response from %s%s is larger than %zu MiB; gave up",
           req->base_url, req->route, req->max_response >> 20);
  return PB_ETOOBIG;
}

int pb_cli_http_send(const pb_cli_request *req, pb_cli_response *resp, char *err,
                     size_t errcap) {
  memset(resp, 0, sizeof(*resp));
  resp->retry_after = -1;
  pb_buf_init(&resp->body, req->max_response);

  pb_buf url, auth;
  pb_buf_init(&url, 16384);
  pb_buf_init(&auth, 8192);
  struct curl_slist *hdrs = NULL, *h2;
  char curlmsg[CURL_ERROR_SIZE] = "";
  sink s = {.body = &resp->body};
  int rc = PB_ENOMEM;
  CURLcode cc;
  char *ct = NULL;
  curl_off_t retry = -1;
  /* An empty Expect: stops curl's 100-continue round trip on big --html bodies. */
  const char *fixed[] = {"Content-Type: application/json", "Accept: */*", "Expect:"};

  CURL *h = curl_easy_init();
  if (!h || pb_buf_printf(&url, "%s%s", req->base_url, req->route)) goto fail;
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
    if (i == 0 && !req->body) continue;
    if (!(h2 = curl_slist_append(hdrs, fixed[i]))) goto fail;
    hdrs = h2;
  }
  if (req->token) {
    if (pb_buf_printf(&auth, "Authorization: Bearer %s", req->token)) goto fail;
    if (!(h2 = curl_slist_append(hdrs, auth.data))) goto fail;
    hdrs = h2;
  }

  curl_easy_setopt(h, CURLOPT_URL, url.data);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, PB_CLI_USER_AGENT);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlmsg);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, PB_CLI_CONNECT_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_response);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
  if (req->body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  }
  if (req->method && strcmp(req->method, req->body ? "POST" : "GET"))
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);

  cc = curl_easy_perform(h);
  if (cc != CURLE_OK) {
    rc = explain(h, cc, &s, req, curlmsg, err, errcap);
    pb_buf_free(&resp->body);
    goto out;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
  if (ct) pb_strlcpy(resp->content_type, ct, sizeof(resp->content_type));
  if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0)
    resp->retry_after = (long)retry;
  struct curl_header *th = NULL;
  if (curl_easy_header(h, "X-Trace-Id", 0, CURLH_HEADER, -1, &th) == CURLHE_OK && th && th->value)
    pb_strlcpy(resp->trace_id, th->value, sizeof(resp->trace_id));
  rc = 0;
  goto out;

fail:
  snprintf(err, errcap, "preparing the request: %s", pb_strerror(rc));
  pb_buf_free(&resp->body);
out:
  curl_slist_free_all(hdrs);
  if (h) curl_easy_cleanup(h);
  pb_buf_free(&url);
  pb_buf_free(&auth);
  return rc;
}
