#ifndef PB_ERRCODE_H
#define PB_ERRCODE_H
/* Every error the service answers with, one row each: the enum value and
 * the code clients see in {"errors":[{"code",...}]}. Ops and the HTTP layer
 * fail with these; the HTTP status and default message of each are in one
 * table, http/errors.c. Two rows may share a client code when the same
 * words mean two statuses (a capture over the size cap is a bad request,
 * a page over a byte cap is too large). */

#define PB_CODES(X)                                                            \
  X(INVALID_REQUEST, "INVALID_REQUEST")                                        \
  X(INVALID_PATTERN, "INVALID_PATTERN")                                        \
  X(INVALID_SELECTOR, "INVALID_SELECTOR")                                      \
  X(CAPTURE_TOO_LARGE, "PAGE_TOO_LARGE")                                       \
  X(UNAUTHORIZED, "UNAUTHORIZED")                                              \
  X(INVALID_TOKEN, "INVALID_TOKEN")                                            \
  X(EXPIRED_TOKEN, "EXPIRED_TOKEN")                                            \
  X(TOKEN_REVOKED, "TOKEN_REVOKED")                                            \
  X(ACCOUNT_DISABLED, "ACCOUNT_DISABLED")                                      \
  X(ACCOUNT_DELETED, "ACCOUNT_DELETED")                                        \
  X(FORBIDDEN, "FORBIDDEN")                                                    \
  X(FORBIDDEN_URL, "FORBIDDEN_URL")                                            \
  X(NOT_FOUND, "NOT_FOUND")                                                    \
  X(SESSION_NOT_FOUND, "SESSION_NOT_FOUND")                                    \
  X(TRACE_NOT_FOUND, "TRACE_NOT_FOUND")                                        \
  X(ELEMENT_NOT_FOUND, "ELEMENT_NOT_FOUND")                                    \
  X(METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")                                  \
  X(TIMEOUT, "TIMEOUT")                                                        \
  X(SESSION_IN_USE, "SESSION_IN_USE")                                          \
  X(LENGTH_REQUIRED, "LENGTH_REQUIRED")                                        \
  X(BODY_TOO_LARGE, "BODY_TOO_LARGE")                                          \
  X(SCRIPT_TOO_LARGE, "SCRIPT_TOO_LARGE")                                      \
  X(PAGE_TOO_LARGE, "PAGE_TOO_LARGE")                                          \
  X(PDF_TOO_LARGE, "PDF_TOO_LARGE")                                            \
  X(NAVIGATION_FAILED, "NAVIGATION_FAILED")                                    \
  X(TOO_MANY_REDIRECTS, "TOO_MANY_REDIRECTS")                                  \
  X(PAGE_ERROR, "PAGE_ERROR")                                                  \
  X(ELEMENT_NOT_VISIBLE, "ELEMENT_NOT_VISIBLE")                                \
  X(LIMIT_EXCEEDED, "LIMIT_EXCEEDED")                                          \
  X(RATE_LIMITED, "RATE_LIMITED")                                              \
  X(TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS")                                    \
  X(CLIENT_CLOSED, "CLIENT_CLOSED")                                            \
  X(INTERNAL_ERROR, "INTERNAL_ERROR")                                          \
  X(BROWSER_CRASHED, "BROWSER_CRASHED")                                        \
  X(PAGE_CRASHED, "PAGE_CRASHED")                                              \
  X(BROWSER_UNAVAILABLE, "BROWSER_UNAVAILABLE")                                \
  X(SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE")                                \
  X(SHUTTING_DOWN, "SHUTTING_DOWN")                                            \
  X(BUSY, "BUSY")                                                              \
  X(STORAGE_FULL, "STORAGE_FULL")                                              \
  X(INVALID_TICKET, "INVALID_TICKET")                                          \
  X(FILE_TOO_LARGE, "FILE_TOO_LARGE")                                          \
  X(UPLOADS_FULL, "UPLOADS_FULL")                                              \
  X(DOWNLOAD_NOT_FOUND, "DOWNLOAD_NOT_FOUND")                                  \
  X(DOWNLOAD_NOT_READY, "DOWNLOAD_NOT_READY")                                  \
  X(CONTEXT_NOT_FOUND, "CONTEXT_NOT_FOUND")                                    \
  X(CONTEXT_IN_USE, "CONTEXT_IN_USE")                                          \
  X(CONTEXT_QUOTA_EXCEEDED, "CONTEXT_QUOTA_EXCEEDED")                          \
  X(LIVE_LINK_NOT_FOUND, "LIVE_LINK_NOT_FOUND")                                \
  X(LIVE_LINK_EXPIRED, "LIVE_LINK_EXPIRED")                                    \
  X(LIVE_LINK_REVOKED, "LIVE_LINK_REVOKED")                                    \
  X(LIVE_VIEW_ONLY, "LIVE_VIEW_ONLY")                                          \
  X(RECORDING_NOT_FOUND, "RECORDING_NOT_FOUND")                                \
  X(RECORDING_QUOTA_EXCEEDED, "RECORDING_QUOTA_EXCEEDED")                      \
  X(HANDOFF_NOT_FOUND, "HANDOFF_NOT_FOUND")                                    \
  X(HANDOFF_PENDING, "HANDOFF_PENDING")                                        \
  X(HANDOFF_TIMEOUT, "HANDOFF_TIMEOUT")                                        \
  X(CRAWL_NOT_FOUND, "CRAWL_NOT_FOUND")                                        \
  X(CRAWL_LIMIT, "CRAWL_LIMIT")                                                \
  X(CRAWL_QUOTA_EXCEEDED, "CRAWL_QUOTA_EXCEEDED")                              \
  X(UNSUPPORTED_OPTION, "UNSUPPORTED_OPTION")                                  \
  X(LOGIN_CODE_INVALID, "LOGIN_CODE_INVALID")                                  \
  X(LOGIN_CODE_USED, "LOGIN_CODE_USED")                                        \
  X(LOGIN_CODE_EXPIRED, "LOGIN_CODE_EXPIRED")                                  \
  X(INSUFFICIENT_CREDITS, "INSUFFICIENT_CREDITS")                              \
  X(NO_MODEL, "NO_MODEL")                                                      \
  X(SCHEMA_MISMATCH, "SCHEMA_MISMATCH")                                        \
  X(NODE_LOST, "NODE_LOST")                                                    \
  X(NODE_UNREACHABLE, "NODE_UNREACHABLE")                                      \
  X(CLUSTER_KEY_INVALID, "CLUSTER_KEY_INVALID")

typedef enum {
  PB_CODE_NONE = 0, /* no error */
#define PB_CODE_ENUM_(name, text) PB_CODE_##name,
  PB_CODES(PB_CODE_ENUM_)
#undef PB_CODE_ENUM_
      PB_CODE_COUNT
} pb_code;

/* The client-visible code ("TIMEOUT"); "" for PB_CODE_NONE or out of range.
 * Static string, any thread. */
const char *pb_code_text(pb_code code);

#endif
