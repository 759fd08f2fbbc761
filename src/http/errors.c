#include "http/errors.h"

static const struct {
  int status;
  const char *message;
} table[PB_CODE_COUNT] = {
    [PB_CODE_INVALID_REQUEST] = {400, "the request is not valid"},
    [PB_CODE_INVALID_PATTERN] = {400, "a request pattern is not a valid regular expression"},
    [PB_CODE_INVALID_SELECTOR] = {400, "a selector is not valid"},
    [PB_CODE_CAPTURE_TOO_LARGE] = {400, "the capture is over the size cap"},
    [PB_CODE_UNAUTHORIZED] = {401, "a token is required"},
    [PB_CODE_INVALID_TOKEN] = {401, "the token is not valid"},
    [PB_CODE_EXPIRED_TOKEN] = {401, "the token expired; create a new one"},
    [PB_CODE_TOKEN_REVOKED] = {401, "the token was revoked"},
    [PB_CODE_ACCOUNT_DISABLED] = {401, "the account is disabled"},
    [PB_CODE_ACCOUNT_DELETED] = {401, "the account was deleted"},
    [PB_CODE_FORBIDDEN] = {403, "not allowed"},
    [PB_CODE_FORBIDDEN_URL] = {403, "the URL may not be loaded"},
    [PB_CODE_NOT_FOUND] = {404, "no such route"},
    [PB_CODE_SESSION_NOT_FOUND] = {404, "no live session with that id for this account"},
    [PB_CODE_TRACE_NOT_FOUND] = {404, "no trace with that id for this account"},
    [PB_CODE_ELEMENT_NOT_FOUND] = {404, "no element matches the selector"},
    [PB_CODE_METHOD_NOT_ALLOWED] = {405, "the route does not take that method"},
    [PB_CODE_TIMEOUT] = {408, "timed out"},
    [PB_CODE_SESSION_IN_USE] = {409, "another client is connected to this session"},
    [PB_CODE_LENGTH_REQUIRED] = {411, "send the body with a Content-Length"},
    [PB_CODE_BODY_TOO_LARGE] = {413, "the request body is too large"},
    [PB_CODE_SCRIPT_TOO_LARGE] = {413, "the test script is too large"},
    [PB_CODE_PAGE_TOO_LARGE] = {413, "the page is too large"},
    [PB_CODE_PDF_TOO_LARGE] = {413, "the PDF is too large"},
    [PB_CODE_NAVIGATION_FAILED] = {422, "the page could not be loaded"},
    [PB_CODE_TOO_MANY_REDIRECTS] = {422, "too many HTTP redirects"},
    [PB_CODE_PAGE_ERROR] = {422, "the page failed"},
    [PB_CODE_ELEMENT_NOT_VISIBLE] = {422, "the element is not visible"},
    [PB_CODE_LIMIT_EXCEEDED] = {429, "the account is at its limit"},
    [PB_CODE_RATE_LIMITED] = {429, "too many requests for this account; retry later"},
    [PB_CODE_TOO_MANY_REQUESTS] = {429, "the job queue is full; retry later"},
    [PB_CODE_CLIENT_CLOSED] = {499, "the client went away"},
    [PB_CODE_INTERNAL_ERROR] = {500, "a fault of the service"},
    [PB_CODE_BROWSER_CRASHED] = {502, "the browser crashed; try again"},
    [PB_CODE_PAGE_CRASHED] = {502, "the page crashed or was closed"},
    [PB_CODE_BROWSER_UNAVAILABLE] = {503, "no browser is available; retry later"},
    [PB_CODE_SERVICE_UNAVAILABLE] = {503, "the service cannot take this now; retry later"},
    [PB_CODE_SHUTTING_DOWN] = {503, "the service is shutting down"},
    [PB_CODE_BUSY] = {503, "busy; retry"},
    [PB_CODE_STORAGE_FULL] = {507, "the service's disk is full; retry later"},
    [PB_CODE_INVALID_TICKET] = {401, "the connect ticket is not valid"},
    [PB_CODE_FILE_TOO_LARGE] = {413, "the file is over the upload size cap"},
    [PB_CODE_UPLOADS_FULL] = {413, "the session holds as many uploaded files or bytes as it may"},
    [PB_CODE_DOWNLOAD_NOT_FOUND] = {404, "no download with that id in this session"},
    [PB_CODE_DOWNLOAD_NOT_READY] = {409, "the download did not complete"},
    [PB_CODE_CONTEXT_NOT_FOUND] = {404, "no context with that id for this account"},
    [PB_CODE_CONTEXT_IN_USE] = {409, "a live session runs on this context"},
    [PB_CODE_CONTEXT_QUOTA_EXCEEDED] = {413, "the account's contexts are at their cap"},
    [PB_CODE_LIVE_LINK_NOT_FOUND] = {404, "no live view link with that id for this session"},
    [PB_CODE_LIVE_LINK_EXPIRED] = {410, "the live view link expired; ask for a new one"},
    [PB_CODE_LIVE_LINK_REVOKED] = {410, "the live view link was revoked"},
    [PB_CODE_LIVE_VIEW_ONLY] = {403, "the live view link is view-only: input is refused"},
    [PB_CODE_RECORDING_NOT_FOUND] = {404, "no recording (or no such frame) for this account's session"},
    [PB_CODE_RECORDING_QUOTA_EXCEEDED] = {413, "the account's recordings are at their cap"},
    [PB_CODE_HANDOFF_NOT_FOUND] = {404, "no handoff of this session"},
    [PB_CODE_HANDOFF_PENDING] = {409, "a handoff of this session waits for a person already"},
    [PB_CODE_HANDOFF_TIMEOUT] = {408, "the handoff timed out before the person handed back"},
    [PB_CODE_CRAWL_NOT_FOUND] = {404, "no crawl with that id for this account (kept 24 hours)"},
    [PB_CODE_CRAWL_LIMIT] = {429, "the account runs as many crawls at once as it may"},
    [PB_CODE_CRAWL_QUOTA_EXCEEDED] = {413, "the account's stored crawl results are at their cap"},
    [PB_CODE_UNSUPPORTED_OPTION] = {400, "an option of a peer's API that this service does not offer"},
    [PB_CODE_LOGIN_CODE_INVALID] = {400, "the sign-in link is not valid; request a new one"},
    [PB_CODE_LOGIN_CODE_USED] = {410, "the sign-in link was used already; request a new one"},
    [PB_CODE_LOGIN_CODE_EXPIRED] = {410, "the sign-in link expired; request a new one"},
    [PB_CODE_INSUFFICIENT_CREDITS] = {402, "the account's credits cannot pay for this work"},
    [PB_CODE_NO_MODEL] = {400, "no language model here: extraction needs selectors in the schema"},
    [PB_CODE_SCHEMA_MISMATCH] = {422, "what the page holds does not fit the schema"},
    [PB_CODE_NODE_LOST] = {410, "the node holding this session stopped answering; its session "
                                "was closed"},
    [PB_CODE_NODE_UNREACHABLE] = {502, "the node that holds this could not be reached; retry"},
    [PB_CODE_CLUSTER_KEY_INVALID] = {403, "a request between nodes without the cluster key"},
};

int pb_http_status(pb_code code) {
  if ((int)code <= 0 || code >= PB_CODE_COUNT || !table[code].status) return 500;
  return table[code].status;
}

const char *pb_http_message(pb_code code) {
  if ((int)code <= 0 || code >= PB_CODE_COUNT || !table[code].message)
    return "a fault of the service";
  return table[code].message;
}
