/* Trace writer: a recorded job (hand-written but realistic CDP traffic) turns
 * into a zip that Playwright's viewer, HAR tools and DevTools can read, with
 * secrets gone. Set PB_TRACE_SAMPLE=/path.zip to keep the sample zip. */
#include <cjson/cJSON.h>
#include <zip.h>

#include "common/pb.h"
#include "test.h"
#include "trace/trace.h"

#define COOKIE_VALUE "COOKIE-VALUE-456"
#define AUTH_VALUE "SECRET-AUTH-TOKEN-123"
#define JPEG_SHA1 "5ca5cb405c7d6c0826ebaf49dc222217a47c334f"
#define BODY_SHA1 "fcdfe3f5d1bdf80b65b40b1891c700f591a145a2"

/* A 16x12 JPEG as Chromium's screencast sends it. */
static const char jpeg_b64[] =
    "/9j/4AAQSkZJRgABAQAAAQABAAD/4gHYSUNDX1BST0ZJTEUAAQEAAAHIAAAAAAQwAABtbnRyUkdC"
    "IFhZWiAH4AABAAEAAAAAAABhY3NwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAA"
    "AADTLQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAlk"
    "ZXNjAAAA8AAAACRyWFlaAAABFAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAABUAAA"
    "ABRyVFJDAAABZAAAAChnVFJDAAABZAAAAChiVFJDAAABZAAAAChjcHJ0AAABjAAAADxtbHVjAAAA"
    "AAAAAAEAAAAMZW5VUwAAAAgAAAAcAHMAUgBHAEJYWVogAAAAAAAAb6IAADj1AAADkFhZWiAAAAAA"
    "AABimQAAt4UAABjaWFlaIAAAAAAAACSgAAAPhAAAts9YWVogAAAAAAAA9tYAAQAAAADTLXBhcmEA"
    "AAAAAAQAAAACZmYAAPKnAAANWQAAE9AAAApbAAAAAAAAAABtbHVjAAAAAAAAAAEAAAAMZW5VUwAA"
    "ACAAAAAcAEcAbwBvAGcAbABlACAASQBuAGMALgAgADIAMAAxADb/2wBDABsSFBcUERsXFhceHBsg"
    "KEIrKCUlKFE6PTBCYFVlZF9VXVtqeJmBanGQc1tdhbWGkJ6jq62rZ4C8ybqmx5moq6T/2wBDARwe"
    "HigjKE4rK06kbl1upKSkpKSkpKSkpKSkpKSkpKSkpKSkpKSkpKSkpKSkpKSkpKSkpKSkpKSkpKSk"
    "pKSkpKT/wAARCAAMABADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAT/xAAUEAEAAAAA"
    "AAAAAAAAAAAAAAAA/8QAFQEBAQAAAAAAAAAAAAAAAAAABAX/xAAUEQEAAAAAAAAAAAAAAAAAAAAA"
    "/9oADAMBAAIRAxEAPwCYBRFf/9k=";

/* Messages are written with ' for " to stay readable. */
static void feed(pb_trace *t, int dir, int64_t ts, const char *sq) {
  size_t n = strlen(sq);
  char *json = malloc(n + 1);
  ASSERT(json != NULL);
  for (size_t i = 0; i <= n; i++) json[i] = sq[i] == '\'' ? '"' : sq[i];
  pb_trace_cdp(t, dir, ts, json, n);
  free(json);
}

#define SEND(ts, s) feed(t, PB_TRACE_TO_BROWSER, (ts), (s))
#define RECV(ts, s) feed(t, PB_TRACE_FROM_BROWSER, (ts), (s))
#define T0 1700000000000LL

/* A goto of a page with an image, a screencast frame, console output, a page
 * error, cookies set and read, a Chrome trace chunk, then a screenshot. */
static void record_job(pb_trace *t) {
  pb_trace_meta(t, "screenshot https://example.test/", 1280, 720, "Mozilla/5.0 test", "131.0");
  SEND(T0, "{'id':1,'method':'Page.enable','sessionId':'S1'}");
  RECV(T0 + 1, "{'id':1,'result':{},'sessionId':'S1'}");
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "url", "https://example.test/?q=1&lang=en");
  int go = pb_trace_action_begin(t, "page.goto", params, T0 + 2);
  cJSON_Delete(params);
  ASSERT(go > 0);
  SEND(T0 + 3,
       "{'id':2,'method':'Page.navigate','params':{'url':'https://example.test/?q=1&lang=en'},"
       "'sessionId':'S1'}");
  RECV(T0 + 10,
       "{'method':'Network.requestWillBeSent','params':{'requestId':'R1','loaderId':'R1',"
       "'documentURL':'https://example.test/?q=1&lang=en','request':{'url':'https://example.test/"
       "?q=1&lang=en','method':'GET','headers':{'Upgrade-Insecure-Requests':'1','Authorization':"
       "'Bearer " AUTH_VALUE "','Cookie':'sid=" COOKIE_VALUE
       "'},'initialPriority':'VeryHigh'},"
       "'timestamp':100.0,'wallTime':1700000000.01,'initiator':{'type':'other'},'type':'Document',"
       "'frameId':'F1','hasUserGesture':false},'sessionId':'S1'}");
  RECV(T0 + 11,
       "{'method':'Network.requestWillBeSentExtraInfo','params':{'requestId':'R1',"
       "'associatedCookies':[{'blockedReasons':[],'cookie':{'name':'sid','value':'" COOKIE_VALUE
       "','domain':'example.test','path':'/'}}],'headers':{':method':'GET','authorization':"
       "'Bearer " AUTH_VALUE "','cookie':'sid=" COOKIE_VALUE "'}},'sessionId':'S1'}");
  RECV(T0 + 30,
       "{'method':'Network.responseReceived','params':{'requestId':'R1','loaderId':'R1',"
       "'timestamp':100.02,'type':'Document','response':{'url':'https://example.test/?q=1&lang=en',"
       "'status':200,'statusText':'OK','headers':{'Content-Type':'text/html; charset=utf-8',"
       "'Set-Cookie':'sid=" COOKIE_VALUE
       "; Path=/; HttpOnly'},'mimeType':'text/html',"
       "'requestHeaders':{'Cookie':'sid=" COOKIE_VALUE
       "'},'remoteIPAddress':'127.0.0.1',"
       "'remotePort':443,'protocol':'http/1.1','encodedDataLength':180,'timing':{'requestTime':"
       "100.0,'dnsStart':0.5,'dnsEnd':1.5,'connectStart':1.5,'connectEnd':6,'sslStart':2,"
       "'sslEnd':6,'sendStart':6.2,'sendEnd':6.5,'receiveHeadersEnd':19.5}},'frameId':'F1'},"
       "'sessionId':'S1'}");
  RECV(T0 + 31,
       "{'method':'Network.responseReceivedExtraInfo','params':{'requestId':'R1','headers':"
       "{'set-cookie':'sid=" COOKIE_VALUE
       "; Path=/'},'headersText':'HTTP/1.1 200 OK\\r\\n"
       "Content-Type: text/html\\r\\nSet-Cookie: sid=" COOKIE_VALUE
       "; Path=/\\r\\n\\r\\n',"
       "'blockedCookies':[{'blockedReasons':['SameSiteLax'],'cookieLine':'sid=" COOKIE_VALUE
       "'}],'statusCode':200},'sessionId':'S1'}");
  RECV(T0 + 40,
       "{'method':'Network.loadingFinished','params':{'requestId':'R1','timestamp':"
       "100.04,'encodedDataLength':512},'sessionId':'S1'}");
  SEND(T0 + 41,
       "{'id':3,'method':'Network.getResponseBody','params':{'requestId':'R1'},"
       "'sessionId':'S1'}");
  RECV(T0 + 42,
       "{'id':3,'result':{'body':'<html><body><img src=a.png>hello</body></html>',"
       "'base64Encoded':false},'sessionId':'S1'}");
  RECV(T0 + 45,
       "{'method':'Network.requestWillBeSent','params':{'requestId':'R2','loaderId':'R1',"
       "'request':{'url':'https://example.test/a.png','method':'GET','headers':{'Referer':"
       "'https://example.test/','Cookie':'sid=" COOKIE_VALUE
       "'}},'timestamp':100.05,"
       "'wallTime':1700000000.06,'type':'Image','frameId':'F1'},'sessionId':'S1'}");
  RECV(T0 + 50,
       "{'method':'Network.responseReceived','params':{'requestId':'R2','type':'Image',"
       "'timestamp':100.06,'response':{'url':'https://example.test/a.png','status':200,"
       "'statusText':'OK','headers':{'content-type':'image/png'},'mimeType':'image/png',"
       "'protocol':'h2'},'frameId':'F1'},'sessionId':'S1'}");
  RECV(T0 + 52,
       "{'method':'Network.loadingFinished','params':{'requestId':'R2','timestamp':"
       "100.07,'encodedDataLength':68},'sessionId':'S1'}");
  RECV(T0 + 60,
       "{'method':'Runtime.consoleAPICalled','params':{'type':'log','args':[{'type':"
       "'string','value':'hello'},{'type':'number','value':42,'description':'42'}],"
       "'executionContextId':1,'timestamp':1700000000060,'stackTrace':{'callFrames':"
       "[{'functionName':'','scriptId':'5','url':'https://example.test/app.js',"
       "'lineNumber':3,'columnNumber':8}]}},'sessionId':'S1'}");
  RECV(T0 + 61,
       "{'method':'Runtime.consoleAPICalled','params':{'type':'error','args':[{'type':"
       "'string','value':'boom'}],'executionContextId':1,'timestamp':1700000000061},"
       "'sessionId':'S1'}");
  RECV(T0 + 62,
       "{'method':'Runtime.exceptionThrown','params':{'timestamp':1700000000062,"
       "'exceptionDetails':{'exceptionId':1,'text':'Uncaught','lineNumber':0,"
       "'columnNumber':0,'exception':{'type':'object','subtype':'error','className':"
       "'TypeError','description':'TypeError: x is undefined\\n    at app.js:1:1'}}},"
       "'sessionId':'S1'}");
  pb_trace_action_end(t, go, T0 + 70, NULL);

  char frame[2048];
  snprintf(frame, sizeof(frame),
           "{'method':'Page.screencastFrame','params':{'data':'%s','metadata':{'offsetTop':0,"
           "'pageScaleFactor':1,'deviceWidth':16,'deviceHeight':12,'scrollOffsetX':0,"
           "'scrollOffsetY':0,'timestamp':1700000000.08},'sessionId':1},'sessionId':'S1'}",
           jpeg_b64);
  RECV(T0 + 80, frame);
  SEND(T0 + 81,
       "{'id':4,'method':'Page.screencastFrameAck','params':{'sessionId':1},"
       "'sessionId':'S1'}");
  SEND(T0 + 82,
       "{'id':5,'method':'Network.setCookies','params':{'cookies':[{'name':'sid',"
       "'value':'" COOKIE_VALUE "','domain':'example.test'}]},'sessionId':'S1'}");
  SEND(T0 + 83, "{'id':6,'method':'Network.setCookie','params':{'name':'sid','value':'" COOKIE_VALUE
                "','domain':'example.test'},'sessionId':'S1'}");
  RECV(T0 + 84, "{'id':7,'result':{'cookies':[{'name':'sid','value':'" COOKIE_VALUE
                "','domain':'example.test','path':'/','size':19}]},'sessionId':'S1'}");
  RECV(T0 + 85,
       "{'method':'Tracing.dataCollected','params':{'value':[{'name':'navigationStart',"
       "'ph':'R','ts':1,'pid':1,'tid':1,'cat':'blink.user_timing'},{'name':"
       "'firstContentfulPaint','ph':'R','ts':2,'pid':1,'tid':1,'cat':'loading'}]}}");

  int shot = pb_trace_action_begin(t, "page.screenshot", NULL, T0 + 90);
  ASSERT(shot > go);
  SEND(T0 + 91,
       "{'id':8,'method':'Page.captureScreenshot','params':{'format':'png'},"
       "'sessionId':'S1'}");
  pb_trace_action_end(t, shot, T0 + 99, "Timeout 30000ms exceeded");
  /* Still running when the job ended. */
  ASSERT(pb_trace_action_begin(t, "locator.click", NULL, T0 + 100) > 0);
}

typedef struct {
  char *data;
  size_t len;
} blob;

/* The named file of the zip, NUL-terminated; data is NULL when absent. */
static blob zip_file(zip_t *za, const char *name) {
  blob b = {NULL, 0};
  zip_stat_t st;
  if (zip_stat(za, name, 0, &st) < 0) return b;
  zip_file_t *f = zip_fopen(za, name, 0);
  ASSERT(f != NULL);
  b.data = malloc(st.size + 1);
  ASSERT(b.data != NULL);
  ASSERT_EQ(zip_fread(f, b.data, st.size), (zip_int64_t)st.size);
  b.data[st.size] = '\0';
  b.len = st.size;
  zip_fclose(f);
  return b;
}

static zip_t *open_zip(const char *bytes, size_t len) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(bytes, len, 0, &ze);
  ASSERT(src != NULL);
  zip_t *za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
  ASSERT(za != NULL);
  return za;
}

static int contains(const blob *b, const char *needle) {
  return b->data && memmem(b->data, b->len, needle, strlen(needle)) != NULL;
}

/* Counts trace.trace lines of a type; every line must parse. */
static int count_type(const blob *trace, const char *type, cJSON **first) {
  int n = 0;
  const char *p = trace->data;
  while (p && *p) {
    const char *eol = strchr(p, '\n');
    ASSERT(eol != NULL); /* NDJSON: every line ends */
    cJSON *ev = cJSON_ParseWithLength(p, (size_t)(eol - p));
    ASSERT(ev != NULL);
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(ev, "type");
    ASSERT(cJSON_IsString(ty));
    if (!strcmp(ty->valuestring, type)) {
      if (first && !n) *first = ev, ev = NULL;
      n++;
    }
    cJSON_Delete(ev);
    p = eol + 1;
  }
  return n;
}

static void test_zip_contents(void) {
  pb_trace *t;
  ASSERT_EQ(pb_trace_new(8 << 20, &t), 0);
  record_job(t);
  ASSERT_EQ(pb_trace_truncated(t), 0);
  char *zip;
  size_t len;
  ASSERT_EQ(pb_trace_write_zip(t, &zip, &len), 0);
  const char *keep = getenv("PB_TRACE_SAMPLE");
  if (keep) {
    FILE *f = fopen(keep, "wb");
    ASSERT(f && fwrite(zip, 1, len, f) == len && fclose(f) == 0);
  }
  zip_t *za = open_zip(zip, len);

  blob trace = zip_file(za, "trace.trace");
  ASSERT(trace.data != NULL);
  cJSON *ctx = NULL;
  ASSERT(trace.data == strstr(trace.data, "{\"version\":8,\"type\":\"context-options\""));
  ASSERT_EQ(count_type(&trace, "context-options", &ctx), 1);
  ASSERT_STR_EQ(cJSON_GetObjectItem(ctx, "browserName")->valuestring, "chromium");
  ASSERT_EQ(cJSON_GetObjectItem(ctx, "wallTime")->valuedouble, (double)T0);
  ASSERT_EQ(cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(ctx, "options"), "viewport"), "width")
                ->valueint,
            1280);
  cJSON_Delete(ctx);
  cJSON *before = NULL;
  ASSERT_EQ(count_type(&trace, "before", &before), 3);
  ASSERT_STR_EQ(cJSON_GetObjectItem(before, "title")->valuestring, "page.goto");
  ASSERT_STR_EQ(cJSON_GetObjectItem(before, "class")->valuestring, "Frame");
  ASSERT_STR_EQ(cJSON_GetObjectItem(before, "method")->valuestring, "goto");
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(before, "params"), "url")->valuestring,
                "https://example.test/?q=1&lang=en");
  cJSON_Delete(before);
  ASSERT_EQ(count_type(&trace, "after", NULL), 3);
  ASSERT_CONTAINS(trace.data, "\"message\":\"Timeout 30000ms exceeded\"");
  ASSERT_CONTAINS(trace.data, "did not finish before the trace ended");
  cJSON *frame = NULL;
  ASSERT_EQ(count_type(&trace, "screencast-frame", &frame), 1);
  ASSERT_STR_EQ(cJSON_GetObjectItem(frame, "sha1")->valuestring, JPEG_SHA1 ".jpeg");
  ASSERT_STR_EQ(cJSON_GetObjectItem(frame, "pageId")->valuestring, "page@1");
  ASSERT_EQ(cJSON_GetObjectItem(frame, "width")->valueint, 16);
  ASSERT_EQ(cJSON_GetObjectItem(frame, "timestamp")->valuedouble, (double)(T0 + 80));
  cJSON_Delete(frame);
  ASSERT_EQ(count_type(&trace, "console", NULL), 2);
  ASSERT_CONTAINS(trace.data, "\"messageType\":\"log\",\"text\":\"hello 42\"");
  ASSERT_CONTAINS(trace.data, "\"url\":\"https://example.test/app.js\",\"lineNumber\":3");
  ASSERT_CONTAINS(trace.data, "\"name\":\"TypeError\",\"message\":\"x is undefined\"");
  ASSERT_EQ(count_type(&trace, "stderr", NULL), 0); /* not cut */

  blob jpeg = zip_file(za, "resources/" JPEG_SHA1 ".jpeg");
  ASSERT(jpeg.data != NULL && jpeg.len == 761);
  ASSERT((unsigned char)jpeg.data[0] == 0xFF && (unsigned char)jpeg.data[1] == 0xD8);
  blob body = zip_file(za, "resources/" BODY_SHA1);
  ASSERT_STR_EQ(body.data, "<html><body><img src=a.png>hello</body></html>");

  blob network = zip_file(za, "trace.network");
  ASSERT_EQ(count_type(&network, "resource-snapshot", NULL), 2);
  ASSERT_CONTAINS(network.data, "\"_sha1\":\"" BODY_SHA1 "\"");
  ASSERT_CONTAINS(network.data, "\"_monotonicTime\":1700000000010");

  blob har_b = zip_file(za, "network.har");
  cJSON *har = cJSON_Parse(har_b.data);
  ASSERT(har != NULL);
  cJSON *log = cJSON_GetObjectItem(har, "log");
  ASSERT_STR_EQ(cJSON_GetObjectItem(log, "version")->valuestring, "1.2");
  ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(log, "pages")), 1);
  cJSON *entries = cJSON_GetObjectItem(log, "entries");
  ASSERT_EQ(cJSON_GetArraySize(entries), 2);
  cJSON *doc = cJSON_GetArrayItem(entries, 0), *img = cJSON_GetArrayItem(entries, 1);
  cJSON *doc_res = cJSON_GetObjectItem(doc, "response");
  ASSERT_EQ(cJSON_GetObjectItem(doc_res, "status")->valueint, 200);
  ASSERT_STR_EQ(
      cJSON_GetObjectItem(cJSON_GetObjectItem(doc_res, "content"), "mimeType")->valuestring,
      "text/html");
  ASSERT_STR_EQ(cJSON_GetObjectItem(doc, "startedDateTime")->valuestring,
                "2023-11-14T22:13:20.010Z");
  /* 0.5 blocked + 1 dns + 4.5 connect + 0.3 send + 13 wait + 20.5 receive */
  ASSERT(cJSON_GetObjectItem(doc, "time")->valuedouble > 39.7 &&
         cJSON_GetObjectItem(doc, "time")->valuedouble < 39.9);
  ASSERT_EQ(
      cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "request"), "queryString")),
      2);
  cJSON *img_res = cJSON_GetObjectItem(img, "response");
  ASSERT_EQ(cJSON_GetObjectItem(img_res, "status")->valueint, 200);
  ASSERT_STR_EQ(cJSON_GetObjectItem(img_res, "httpVersion")->valuestring, "HTTP/2.0");
  ASSERT_STR_EQ(
      cJSON_GetObjectItem(cJSON_GetObjectItem(img_res, "content"), "mimeType")->valuestring,
      "image/png");
  ASSERT_CONTAINS(har_b.data, "{\"name\":\"Authorization\",\"value\":\"[redacted]\"}");
  ASSERT_CONTAINS(har_b.data, "{\"name\":\"Set-Cookie\",\"value\":\"[redacted]\"}");
  cJSON_Delete(har);

  blob chrome = zip_file(za, "chrome-trace.json");
  cJSON *ct = cJSON_Parse(chrome.data);
  ASSERT(ct != NULL);
  cJSON *events = cJSON_GetObjectItem(ct, "traceEvents");
  ASSERT_EQ(cJSON_GetArraySize(events), 2);
  ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 1), "name")->valuestring,
                "firstContentfulPaint");
  cJSON_Delete(ct);

  blob cdp = zip_file(za, "cdp.jsonl");
  int lines = 0;
  for (const char *p = cdp.data; p && *p; lines++) {
    const char *eol = strchr(p, '\n');
    ASSERT(eol != NULL);
    cJSON *l = cJSON_ParseWithLength(p, (size_t)(eol - p));
    ASSERT(l && cJSON_IsNumber(cJSON_GetObjectItem(l, "ts")) &&
           cJSON_IsString(cJSON_GetObjectItem(l, "dir")) &&
           cJSON_IsObject(cJSON_GetObjectItem(l, "msg")));
    cJSON_Delete(l);
    p = eol + 1;
  }
  ASSERT_EQ(lines, 23);
  ASSERT_CONTAINS(cdp.data, "\"data\":\"[1016 bytes]\"");
  ASSERT(!contains(&cdp, "/9j/4AAQSkZJRg")); /* the frame itself is not there */
  ASSERT_CONTAINS(cdp.data, "\"dir\":\"send\",\"msg\":{\"id\":1,\"method\":\"Page.enable\"");
  ASSERT_CONTAINS(cdp.data, "Set-Cookie: [redacted]\\r\\n");

  /* No secret anywhere in the zip. */
  ASSERT(zip_get_num_entries(za, 0) == 7);
  for (zip_int64_t i = 0; i < zip_get_num_entries(za, 0); i++) {
    blob f = zip_file(za, zip_get_name(za, (zip_uint64_t)i, 0));
    ASSERT(f.data != NULL);
    if (contains(&f, COOKIE_VALUE) || contains(&f, AUTH_VALUE)) {
      fprintf(stderr, "secret in %s\n", zip_get_name(za, (zip_uint64_t)i, 0));
      ASSERT(0);
    }
    free(f.data);
  }
  ASSERT(zip_stat(za, "NOTE.txt", 0, &(zip_stat_t){0}) < 0);

  free(trace.data), free(jpeg.data), free(body.data), free(network.data), free(har_b.data);
  free(chrome.data), free(cdp.data);
  zip_close(za);
  free(zip);
  pb_trace_free(t);
}

static void test_cap_cuts_with_note(void) {
  pb_trace *t;
  ASSERT_EQ(pb_trace_new(4096, &t), 0);
  int id = pb_trace_action_begin(t, "page.goto", NULL, T0);
  ASSERT(id > 0);
  char msg[256];
  for (int i = 0; i < 200; i++) {
    snprintf(msg, sizeof(msg),
             "{'method':'Runtime.consoleAPICalled','params':{'type':'log','args':[{'type':"
             "'string','value':'line %d'}]},'sessionId':'S1'}",
             i);
    RECV(T0 + 1 + i, msg);
  }
  ASSERT_EQ(pb_trace_truncated(t), 1);
  ASSERT_EQ(pb_trace_action_begin(t, "page.screenshot", NULL, T0 + 300), 0);
  pb_trace_action_end(t, id, T0 + 301, NULL); /* the begun action still ends */
  char *zip;
  size_t len;
  ASSERT_EQ(pb_trace_write_zip(t, &zip, &len), 0);
  zip_t *za = open_zip(zip, len);
  blob note = zip_file(za, "NOTE.txt");
  ASSERT_CONTAINS(note.data, "cut");
  ASSERT_CONTAINS(note.data, "4096 bytes");
  blob trace = zip_file(za, "trace.trace");
  ASSERT_EQ(count_type(&trace, "stderr", NULL), 1);
  int consoles = count_type(&trace, "console", NULL);
  ASSERT(consoles > 10 && consoles < 200);
  ASSERT_EQ(count_type(&trace, "before", NULL), 1);
  ASSERT_EQ(count_type(&trace, "after", NULL), 1);
  ASSERT(!strstr(trace.data, "did not finish"));
  blob cdp = zip_file(za, "cdp.jsonl");
  ASSERT(cdp.len < 4096 * 2);
  free(note.data), free(trace.data), free(cdp.data);
  zip_close(za);
  free(zip);
  pb_trace_free(t);
}

static void test_empty_and_args(void) {
  pb_trace *t = NULL;
  ASSERT_EQ(pb_trace_new(0, &t), PB_EINVAL);
  pb_trace_free(NULL);
  ASSERT_EQ(pb_trace_new(1024, &t), 0);
  RECV(T0, "not json at all, Authorization: " AUTH_VALUE);
  char *zip;
  size_t len;
  ASSERT_EQ(pb_trace_write_zip(t, &zip, &len), 0);
  zip_t *za = open_zip(zip, len);
  blob chrome = zip_file(za, "chrome-trace.json");
  cJSON *ct = cJSON_Parse(chrome.data);
  ASSERT(ct && cJSON_IsArray(cJSON_GetObjectItem(ct, "traceEvents")));
  ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(ct, "traceEvents")), 0);
  cJSON_Delete(ct);
  blob har = zip_file(za, "network.har");
  ASSERT_CONTAINS(har.data, "\"entries\":[]");
  blob cdp = zip_file(za, "cdp.jsonl");
  ASSERT_CONTAINS(cdp.data, "\"unparsed\":\"[");
  ASSERT(!contains(&cdp, AUTH_VALUE));
  free(chrome.data), free(har.data), free(cdp.data);
  zip_close(za);
  free(zip);
  pb_trace_free(t);
}

int main(void) {
  RUN(test_zip_contents);
  RUN(test_cap_cuts_with_note);
  RUN(test_empty_and_args);
  DONE();
}
