#include "sessions/session.h"

#include "common/hash.h"
#include "common/pb.h"
#include "core/credits.h"
#include "core/fleet.h"
#include "sessions/contexts.h"
#include "sessions/dlstore.h"
#include "sessions/downloads.h"
#include "sessions/handoff.h"
#include "sessions/recording.h"
#include "sessions/screencast.h"
#include "sessions/uploads.h"
#include "trace/trace.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEARTBEAT_MS 5000
/* Credits: a metered session's last beat comes this long before its paid
 * time ends (the sweeper wakes every 200 ms), and it is then closed with
 * this reason and WebSocket close code (4000-4999 are the application's;
 * 4402 reads as HTTP's 402). */
#define CREDITS_MARGIN_MS 300
#define PB_WS_CLOSE_CREDITS 4402
#define CREDITS_REASON "CreditsExhausted"
#define CREDITS_TEXT "the account's credits ran out"

struct pb_session {
  pb_sessions *ss;
  atomic_int refs;
  char id[PB_SESSION_ID_LEN + 1];
  int64_t account_id;
  int64_t start_wall_ms;
  int64_t keep_alive_ms;
  int64_t usage_id;
  pb_browser *browser;
  pb_proxy *proxy;
  pthread_mutex_t mu; /* guards conn, ended, busy and the use of proxy */
  pthread_cond_t idle;
  void *conn;
  char conn_id[17];
  int64_t conn_start_wall_ms;
  int ended; /* WebSocket close code once ended, else 0 */
  char reason[32];
  char reason_text[128];
  int busy; /* quick actions running in the browser */
  int64_t last_heartbeat;
  int64_t next_beat;  /* monotonic: a metered session beats sooner near its end */
  int64_t paid_until; /* wall: its time paid to here (registry lock) */
  /* For the history (under mu): clients accepted, and clients that left
   * while the session lived on. */
  int64_t client_connections, client_disconnects;
  pb_trace *trace;
  /* The client's commands in flight, as actions of the trace. */
  pthread_mutex_t trace_mu;
  struct {
    int64_t id;
    int action;
  } inflight[64];
  int torn_down;
  pb_uploads *uploads; /* the upload area; NULL when it could not be made */
  /* The persistent context the session runs on ("": none), and whether its
   * state is saved back when the session ends. */
  char ctx_id[PB_CONTEXT_ID_LEN + 1];
  int ctx_persist;
  pb_screencast *cast; /* the live view's frame source; NULL: none */
  pb_recording *rec;   /* the recording of its frames (under mu); NULL: none */
  /* The trace's filmstrip: the frame source's frames, at most
   * TRACE_FRAME_MS apart, the newest of each interval kept (callback and
   * teardown only, never at once). */
  pb_screencast_sub *trace_sub;
  struct {
    unsigned char *jpeg;
    size_t len;
    int64_t ms;
    int w, h;
    char tab[64];
  } trace_pend;
  int64_t trace_last_ms;
  struct pb_session *next;
};

/* Records the session's CDP traffic; each command the client sends becomes
 * an action in the viewer, ended by its answer. */
static void trace_rec(int dir, const char *json, size_t len, void *data) {
  pb_session *s = data;
  int64_t now = pb_wall_ms();
  /* The frame source's frames and acks: the filmstrip gets them paced
   * (trace_frame), not every one as a message. */
  if (memmem(json, len < 96 ? len : 96, "\"Page.screencastFrame", 21)) return;
  pb_trace_cdp(s->trace, dir, now, json, len);
  if (len > 65536 && dir == 0) return;
  static const char prefix[] = "{\"id\":";
  if (len < sizeof(prefix) || memcmp(json, prefix, sizeof(prefix) - 1)) return;
  long long id = strtoll(json + sizeof(prefix) - 1, NULL, 10);
  if (id < PB_CDP_RAW_ID_BASE) return; /* the service's own commands */
  pthread_mutex_lock(&s->trace_mu);
  if (dir == 0) {
    cJSON *m = cJSON_ParseWithLength(json, len);
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(m, "method");
    if (cJSON_IsString(method)) {
      int slot = (int)(id % 64);
      s->inflight[slot].id = id;
      s->inflight[slot].action = pb_trace_action_begin(
          s->trace, method->valuestring, cJSON_GetObjectItemCaseSensitive(m, "params"), now);
    }
    cJSON_Delete(m);
  } else {
    int slot = (int)(id % 64);
    if (s->inflight[slot].id == id && s->inflight[slot].action) {
      const char *err = memmem(json, len < 256 ? len : 256, "\"error\":", 8) ? "CDP error" : NULL;
      pb_trace_action_end(s->trace, s->inflight[slot].action, now, err);
      s->inflight[slot].action = 0;
    }
  }
  pthread_mutex_unlock(&s->trace_mu);
}

#define TRACE_FRAME_MS 100

static void trace_frame_put(pb_session *s, const unsigned char *jpeg, size_t len, int64_t ms,
                            int w, int h, const char *tab) {
  if (!s->trace_last_ms) pb_trace_meta(s->trace, NULL, w, h, NULL, NULL);
  pb_trace_frame(s->trace, ms, jpeg, len, w, h, tab);
  s->trace_last_ms = ms;
}

/* CDP reader thread: a frame for the trace's filmstrip, at most one per
 * TRACE_FRAME_MS. A frame too soon after the last one kept waits as the
 * pending one, replaced by newer ones. When a later frame shows the interval
 * passed, the pending one was what the screen showed at that moment: it goes
 * in stamped then, and the new frame goes in if a whole interval lies beyond
 * (else it waits in turn). */
static void trace_frame(const pb_screencast_frame *f, void *data) {
  pb_session *s = data;
  if (s->trace_pend.jpeg && f->wall_ms - s->trace_last_ms >= TRACE_FRAME_MS) {
    trace_frame_put(s, s->trace_pend.jpeg, s->trace_pend.len, s->trace_last_ms + TRACE_FRAME_MS,
                    s->trace_pend.w, s->trace_pend.h, s->trace_pend.tab);
    free(s->trace_pend.jpeg);
    s->trace_pend.jpeg = NULL;
  }
  if (!s->trace_last_ms || f->wall_ms - s->trace_last_ms >= TRACE_FRAME_MS) {
    trace_frame_put(s, f->jpeg, f->len, f->wall_ms, f->width, f->height, f->target_id);
    return;
  }
  unsigned char *copy = malloc(f->len ? f->len : 1);
  if (!copy) return;
  memcpy(copy, f->jpeg, f->len);
  free(s->trace_pend.jpeg);
  s->trace_pend.jpeg = copy;
  s->trace_pend.len = f->len;
  s->trace_pend.ms = f->wall_ms;
  s->trace_pend.w = f->width;
  s->trace_pend.h = f->height;
  pb_strlcpy(s->trace_pend.tab, f->target_id ? f->target_id : "", sizeof(s->trace_pend.tab));
}

/* Ends the filmstrip: no more frames, the pending one goes in. */
static void trace_frames_end(pb_session *s) {
  pb_screencast_unsubscribe(s->trace_sub);
  s->trace_sub = NULL;
  if (s->trace_pend.jpeg)
    trace_frame_put(s, s->trace_pend.jpeg, s->trace_pend.len, s->trace_pend.ms, s->trace_pend.w,
                    s->trace_pend.h, s->trace_pend.tab);
  free(s->trace_pend.jpeg);
  s->trace_pend.jpeg = NULL;
}

struct pb_sessions {
  pb_sessions_opts o;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pb_session *live;   /* registry: live sessions */
  pb_session *ending; /* ended, waiting to be torn down by the sweeper */
  pb_session *gone;   /* torn down, client still to be closed by the I/O thread */
  int tearing;        /* off `ending`, not yet on `gone`: being torn down */
  int stopping;
  pthread_t sweeper;
};

int pb_session_record(pb_session *s, int64_t cap_bytes, int64_t quota_bytes) {
  if (!s->ss->o.recordings || !s->cast) return PB_ENOTFOUND;
  pb_recording *r = NULL;
  int rc = pb_recording_start(s->ss->o.recordings, s, s->account_id, s->id, cap_bytes,
                              quota_bytes, &r);
  if (rc) return rc;
  pthread_mutex_lock(&s->mu);
  int ended = s->ended != 0 || s->rec != NULL;
  if (!ended) s->rec = r;
  pthread_mutex_unlock(&s->mu);
  if (ended) {
    pb_recording_finish(r);
    return PB_ENOTFOUND;
  }
  return 0;
}

/* No entropy: refuse to mint guessable ids. */
static void hex_random(char *out, size_t nbytes) {
  if (pb_random_hex(out, nbytes)) abort();
}

static void wake(pb_sessions *ss) {
  if (ss->o.wake) ss->o.wake(ss->o.wake_data);
}

static void proxy_wake(void *data) {
  pb_session *s = data;
  wake(s->ss);
}

void pb_session_unref(pb_session *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->trace_mu);
  pthread_cond_destroy(&s->idle);
  pb_uploads_free(s->uploads);
  pb_screencast_free(s->cast);
  free(s);
}

pb_screencast *pb_session_screencast(pb_session *s) {
  return s->cast;
}

const char *pb_session_id(pb_session *s) {
  return s->id;
}

/* Moves a live session to `ending` (registry lock held). The sweeper tears
 * it down; the I/O thread closes the client's socket with `code`. */
static void end_locked(pb_sessions *ss, pb_session *s, int code, const char *reason,
                       const char *text) {
  for (pb_session **pp = &ss->live; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      s->next = ss->ending;
      ss->ending = s;
      break;
    }
  pthread_mutex_lock(&s->mu);
  if (!s->ended) {
    s->ended = code;
    pb_strlcpy(s->reason, reason, sizeof(s->reason));
    pb_strlcpy(s->reason_text, text ? text : "", sizeof(s->reason_text));
  }
  pthread_mutex_unlock(&s->mu);
  pthread_cond_signal(&ss->cv);
}

/* What the session's clients met, for its history row. Takes mu. */
static void stats_of(pb_session *s, pb_session_stats *v) {
  memset(v, 0, sizeof(*v));
  pthread_mutex_lock(&s->mu);
  v->refused_calls = pb_proxy_refusals(s->proxy, v->last_refusal, sizeof(v->last_refusal));
  v->client_connections = s->client_connections;
  v->client_disconnects = s->client_disconnects;
  pthread_mutex_unlock(&s->mu);
}

/* With persist: the browser is closed so Chromium writes its state out,
 * then its profile's kept parts replace the context's stored state. A crash,
 * a close that does not finish in time, a failed copy or one over the cap
 * keep the last good state; the history's reason text says which. */
static void context_save(pb_sessions *ss, pb_session *s) {
  int64_t t0 = pb_now_ms();
  int crashed = !strcmp(s->reason, "BrowserCrashed");
  int rc = pb_browser_close(s->browser, pb_now_ms() + 5000);
  char why[160] = "", note[200];
  int64_t bytes = 0;
  if (crashed || rc == PB_ECRASHED)
    snprintf(why, sizeof(why), "the browser crashed");
  else if (rc)
    snprintf(why, sizeof(why), "the browser did not close within 5 s");
  else
    rc = pb_contexts_save(ss->o.contexts, s->account_id, s->ctx_id,
                          pb_browser_profile_dir(s->browser), pb_browser_uid(s->browser), &bytes,
                          why, sizeof(why));
  int64_t ms = pb_now_ms() - t0;
  if (!rc && !crashed) {
    PB_INFO("sessions: %s saved context %s (%lld bytes) in %lld ms", s->id, s->ctx_id,
            (long long)bytes, (long long)ms);
    snprintf(note, sizeof(note), "; context saved (%lld bytes)", (long long)bytes);
  } else {
    PB_WARN("sessions: %s did not save context %s: %s; its last saved state stays", s->id,
            s->ctx_id, why);
    snprintf(note, sizeof(note), "; context not saved: %s", why);
  }
  size_t len = strlen(s->reason_text);
  pb_strlcpy(s->reason_text + len, note, sizeof(s->reason_text) - len);
}

/* Kills the browser so running work fails fast, waits for it, records the
 * history row and frees what the session held. */
static void teardown(pb_sessions *ss, pb_session *s) {
  pb_screencast_stop(s->cast); /* its viewers get no more frames */
  /* The recording and the filmstrip end with the frames. */
  pthread_mutex_lock(&s->mu);
  pb_recording *rec = s->rec;
  s->rec = NULL;
  pthread_mutex_unlock(&s->mu);
  pb_recording_finish(rec);
  if (s->trace) trace_frames_end(s);
  /* Let the client read what is queued for it (the answer to Browser.close)
   * before the proxy goes; bounded, a client may not read at all. */
  for (int64_t until = pb_now_ms() + 1000;
       s->proxy && pb_proxy_has_output(s->proxy) && pb_now_ms() < until;) {
    wake(ss);
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000};
    nanosleep(&ts, NULL);
  }
  if (s->browser && s->ctx_id[0] && s->ctx_persist) context_save(ss, s);
  if (s->browser) kill(-pb_browser_pid(s->browser), SIGKILL);
  pb_session_stats stats;
  stats_of(s, &stats);
  pthread_mutex_lock(&s->mu);
  while (s->busy) pthread_cond_wait(&s->idle, &s->mu);
  pb_proxy *proxy = s->proxy;
  s->proxy = NULL;
  pthread_mutex_unlock(&s->mu);
  if (s->trace && s->browser) pb_cdp_unrecord(pb_browser_cdp(s->browser), trace_rec, s);
  /* The downloads outlive the profile, in the store, for the account. */
  if (proxy && ss->o.downloads) {
    pb_download *dls = NULL;
    size_t ndl = 0;
    pb_proxy_downloads(proxy, &dls, &ndl);
    if (pb_dl_store_keep(ss->o.downloads, s->account_id, s->id, pb_proxy_download_dir(proxy), dls,
                         ndl, pb_session_download_max(ss)))
      PB_WARN("sessions: could not keep the downloads of %s", s->id);
    free(dls);
  }
  pb_proxy_free(proxy);
  pb_browser_destroy(s->browser);
  s->browser = NULL;
  if (s->ctx_id[0]) pb_contexts_unclaim(ss->o.contexts, s->account_id, s->ctx_id, s->id);
  if (s->trace) {
    char *zip = NULL;
    size_t zlen = 0;
    if (ss->o.traces && pb_trace_write_zip(s->trace, &zip, &zlen) == 0 &&
        pb_trace_store_put(ss->o.traces, s->account_id, s->id, zip, zlen))
      PB_WARN("sessions: could not keep the trace of %s", s->id);
    free(zip);
    pb_trace_free(s->trace);
    s->trace = NULL;
  }
  int64_t now = pb_wall_ms();
  /* Before the row is closed: history never shows a closed row without. */
  if (pb_session_stats_record(ss->o.store, s->id, &stats))
    PB_WARN("sessions: client figures of %s not recorded", s->id);
  PB_INFO("sessions: %s: %lld refused call(s), %lld client connection(s), %lld left early",
          s->id, (long long)stats.refused_calls, (long long)stats.client_connections,
          (long long)stats.client_disconnects);
  pb_handoff ho; /* the last handoff to a person, for the history */
  if (!pb_handoff_take(s->id, &ho) &&
      pb_session_handoff_record(ss->o.store, s->id, pb_handoff_state_text(ho.state),
                                pb_handoff_by_text(ho.ended_by)))
    PB_WARN("sessions: handoff of %s not recorded", s->id);
  int rc = pb_session_close_record(ss->o.store, s->id, now, s->reason, s->reason_text);
  if (rc && rc != PB_EEXIST)
    PB_ERR("sessions: history of %s not recorded: %s", s->id, pb_strerror(rc));
  if (s->usage_id) pb_usage_end(ss->o.store, s->usage_id, now, 200);
  PB_INFO("sessions: %s closed (%s)", s->id, s->reason);
  pthread_mutex_lock(&s->mu);
  s->torn_down = 1;
  pthread_cond_broadcast(&s->idle);
  pthread_mutex_unlock(&s->mu);
  wake(ss);
}

int64_t pb_session_download_max(pb_sessions *ss) {
  return ss->o.download_max_bytes > 0 ? ss->o.download_max_bytes : PB_DOWNLOAD_MAX_BYTES;
}

pb_uploads *pb_session_uploads(pb_session *s) {
  return s->uploads;
}

int pb_session_downloads(pb_session *s, pb_download **out, size_t *n, char *dir, size_t cap) {
  *out = NULL;
  *n = 0;
  pthread_mutex_lock(&s->mu);
  int rc = PB_ENOTFOUND;
  if (s->proxy) {
    rc = pb_proxy_downloads(s->proxy, out, n);
    if (dir) pb_strlcpy(dir, pb_proxy_download_dir(s->proxy), cap);
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* A session handed to a person is not idle while it waits for them (the
 * handoff's own timeout, at most an hour, bounds that). */
static int handoff_waits(pb_session *s) {
  pb_handoff h;
  return !pb_handoff_get(s->id, s->account_id, &h) && h.state == PB_HANDOFF_WAITING;
}

static int count_locked(pb_sessions *ss, int64_t account_id);

/* 1 when the account is metered and cannot pay one billable second. */
static int credits_short(pb_store *st, int64_t account_id) {
  int64_t balance = 0;
  int metered = 0;
  return st && !pb_store_account_balance(st, account_id, &balance, &metered) && metered &&
         balance < pb_store_price(st);
}

/* The heartbeat of a live session (sweeper, registry lock held): its
 * history row and its ledger row, which debits a metered account. Then the
 * next beat: at most HEARTBEAT_MS away, sooner when the paid time ends
 * before, shared by the account's live sessions. 1 when its credits ran out:
 * its ledger row is closed at this beat (so what it is billed is what was
 * debited) and the session must end. */
static int session_beat(pb_sessions *ss, pb_session *s, int64_t now) {
  int64_t wall = pb_wall_ms();
  s->next_beat = 0;
  pb_session_heartbeat(ss->o.store, s->id, wall);
  pb_usage_credit c;
  if (!s->usage_id || pb_usage_heartbeat_credit(ss->o.store, s->usage_id, wall, &c) ||
      !c.metered) {
    s->paid_until = 0; /* not debited: owes nothing */
    return 0;
  }
  s->paid_until = c.paid_until_ms;
  /* What the account's other sessions ran past their paid time is owed at
   * their next beats: not there to be promised to this one. */
  int64_t owed = 0;
  int spenders = 0;
  for (pb_session *o = ss->live; o; o = o->next) {
    if (o->account_id != s->account_id) continue;
    spenders++;
    if (o != s && o->paid_until && wall > o->paid_until)
      owed = pb_credit_add(owed, pb_credit_debit(c.price_micro, wall - o->paid_until));
  }
  int64_t next_wall = 0;
  if (pb_credit_plan(c.price_micro, pb_credit_add(c.balance_micro, -owed), c.paid_until_ms, wall,
                     spenders, CREDITS_MARGIN_MS, HEARTBEAT_MS, &next_wall)) {
    pb_usage_end(ss->o.store, s->usage_id, wall, 402);
    PB_INFO("sessions: %s: the account's credits ran out", s->id);
    return 1;
  }
  s->next_beat = now + (next_wall - wall);
  return 0;
}

static void *sweeper_main(void *arg) {
  pb_sessions *ss = arg;
  pthread_mutex_lock(&ss->mu);
  for (;;) {
    int64_t now = pb_now_ms();
    for (pb_session *s = ss->live, *next; s; s = next) {
      next = s->next;
      if (s->ended < 0) continue; /* still being acquired */
      /* A Browser.close the I/O thread did not see: its client left as
       * the answer went out (or before), so no connection looks at it. */
      pthread_mutex_lock(&s->mu);
      int asked = !s->ended && s->proxy && pb_proxy_take_close(s->proxy);
      pthread_mutex_unlock(&s->mu);
      if (asked) {
        end_locked(ss, s, 1000, "NormalClosure", "Browser.close");
      } else if (!pb_cdp_alive(pb_browser_cdp(s->browser))) {
        end_locked(ss, s, 1011, "BrowserCrashed", "the browser process died");
      } else if (now - pb_proxy_last_activity(s->proxy) > s->keep_alive_ms &&
                 !handoff_waits(s)) {
        end_locked(ss, s, 1000, "BrowserIdle", "no activity for keep_alive");
      } else if (now - s->last_heartbeat >= HEARTBEAT_MS ||
                 (s->next_beat && now >= s->next_beat)) {
        s->last_heartbeat = now;
        if (session_beat(ss, s, now))
          end_locked(ss, s, PB_WS_CLOSE_CREDITS, CREDITS_REASON, CREDITS_TEXT);
      }
    }
    if (ss->stopping)
      for (pb_session *s = ss->live, *next; s; s = next) {
        next = s->next;
        if (s->ended >= 0) end_locked(ss, s, 1001, "Shutdown", "the service is stopping");
      }
    while (ss->ending) {
      pb_session *s = ss->ending;
      ss->ending = s->next;
      ss->tearing++; /* still present (pb_sessions_present) while on no list */
      pthread_mutex_unlock(&ss->mu);
      teardown(ss, s);
      pthread_mutex_lock(&ss->mu);
      ss->tearing--;
      /* A client still connected is closed by the I/O thread, which finds
       * it here; the registry lets go once it has. */
      s->next = ss->gone;
      ss->gone = s;
      wake(ss);
    }
    for (pb_session **pp = &ss->gone; *pp;) {
      pb_session *s = *pp;
      pthread_mutex_lock(&s->mu);
      int connected = s->conn != NULL;
      pthread_mutex_unlock(&s->mu);
      if (connected && !ss->stopping) {
        pp = &s->next;
        continue;
      }
      *pp = s->next;
      pb_session_unref(s); /* the registry's reference */
    }
    if (ss->stopping && !ss->live && !ss->gone) break;
    struct timespec ts;
    int64_t until = pb_now_ms() + 200;
    ts.tv_sec = until / 1000;
    ts.tv_nsec = (until % 1000) * 1000000;
    pthread_cond_timedwait(&ss->cv, &ss->mu, &ts);
  }
  pthread_mutex_unlock(&ss->mu);
  return NULL;
}

int pb_sessions_start(const pb_sessions_opts *o, pb_sessions **out) {
  *out = NULL;
  pb_sessions *ss = calloc(1, sizeof(*ss));
  if (!ss) return PB_ENOMEM;
  ss->o = *o;
  pthread_mutex_init(&ss->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&ss->cv, &ca);
  pthread_condattr_destroy(&ca);
  int closed = 0;
  if (pb_session_close_orphans(ss->o.store, pb_wall_ms(), &closed) == 0 && closed)
    PB_WARN("sessions: closed %d session(s) an earlier run left open", closed);
  if (pthread_create(&ss->sweeper, NULL, sweeper_main, ss)) {
    free(ss);
    return PB_EIO;
  }
  *out = ss;
  return 0;
}

static int count_locked(pb_sessions *ss, int64_t account_id) {
  int n = 0;
  for (pb_session *s = ss->live; s; s = s->next) n += s->account_id == account_id;
  return n;
}

int pb_sessions_count(pb_sessions *ss, int64_t account_id) {
  pthread_mutex_lock(&ss->mu);
  int n = count_locked(ss, account_id);
  pthread_mutex_unlock(&ss->mu);
  return n;
}

void pb_sessions_states(pb_sessions *ss, int *connected, int *idle, int *ending) {
  *connected = *idle = *ending = 0;
  pthread_mutex_lock(&ss->mu);
  for (pb_session *s = ss->live; s; s = s->next) {
    pthread_mutex_lock(&s->mu);
    if (s->ended)
      (*ending)++;
    else if (s->conn)
      (*connected)++;
    else
      (*idle)++;
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&ss->mu);
}

int pb_sessions_acquire(pb_sessions *ss, int64_t account_id, int64_t keep_alive_ms,
                        int max_concurrent, int trace, int64_t deadline_ms,
                        char id_out[PB_SESSION_ID_LEN + 1]) {
  return pb_sessions_acquire_context(ss, account_id, keep_alive_ms, max_concurrent, trace, NULL, 0,
                                     deadline_ms, id_out);
}

int pb_sessions_acquire_context(pb_sessions *ss, int64_t account_id, int64_t keep_alive_ms,
                                int max_concurrent, int trace, const char *context_id,
                                int persist, int64_t deadline_ms,
                                char id_out[PB_SESSION_ID_LEN + 1]) {
  if (context_id && !ss->o.contexts) return PB_ENOTFOUND;
  /* No browser for an account that cannot pay its first second. */
  if (credits_short(ss->o.store, account_id)) return PB_ENOCREDIT;
  pb_session *s = calloc(1, sizeof(*s));
  if (!s) return PB_ENOMEM;
  s->ss = ss;
  atomic_init(&s->refs, 1);
  s->account_id = account_id;
  s->keep_alive_ms = keep_alive_ms;
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->trace_mu, NULL);
  pthread_cond_init(&s->idle, NULL);
  /* Starts with the node tag in cluster mode (pb.h): 112 random bits. */
  if (pb_random_id_hex(s->id, PB_SESSION_ID_LEN / 2)) abort();

  /* Reserve the slot first so two acquisitions cannot both pass the limit. */
  pthread_mutex_lock(&ss->mu);
  if (ss->stopping || count_locked(ss, account_id) >= max_concurrent) {
    int stopping = ss->stopping;
    pthread_mutex_unlock(&ss->mu);
    pb_session_unref(s);
    return stopping ? PB_ESHUTDOWN : PB_EBUSY;
  }
  s->ended = -1; /* not ready: invisible to get() until the browser is in */
  s->next = ss->live;
  ss->live = s;
  pthread_mutex_unlock(&ss->mu);

  int rc = 0;
  if (context_id) {
    /* Held before the browser starts: a second acquire of the context is
     * refused here, whichever process it reached. */
    char seed[4096];
    rc = pb_contexts_claim(ss->o.contexts, account_id, context_id, s->id, seed, sizeof(seed));
    if (rc == PB_EBUSY) rc = PB_EEXIST;
    if (!rc) {
      pb_strlcpy(s->ctx_id, context_id, sizeof(s->ctx_id));
      s->ctx_persist = persist;
      rc = pb_pool_launch_seeded(ss->o.pool, seed, deadline_ms, &s->browser);
    }
  } else {
    rc = pb_pool_take_spare(ss->o.pool, deadline_ms, &s->browser);
  }
  /* Cluster mode: the account's sessions across nodes are counted where the
   * history row opens, once the browser is there; a refusal lets the browser
   * go like a failed start. */
  int64_t fleet_start = 0;
  if (!rc && ss->o.fleet) {
    int64_t start = pb_wall_ms();
    rc = pb_fleet_open_session(ss->o.fleet, s->id, account_id, start, max_concurrent);
    if (!rc) fleet_start = start;
  }
  /* From here the browser's egress is this account's alone: its connections
   * count against the account's cap as well as the browser's. */
  if (!rc && ss->o.net_owner)
    ss->o.net_owner(ss->o.net_owner_data, pb_browser_net_id(s->browser), account_id);
  if (!rc && trace && pb_trace_new((size_t)64 << 20, &s->trace) == 0) {
    pb_trace_meta(s->trace, "acquired session", 0, 0, NULL, NULL);
    if (pb_cdp_record(pb_browser_cdp(s->browser), "*", trace_rec, s)) {
      pb_trace_free(s->trace);
      s->trace = NULL;
    }
  }
  if (!rc)
    rc = pb_proxy_new(pb_browser_cdp(s->browser), ss->o.url_check, ss->o.url_check_data, proxy_wake,
                      s, &s->proxy);
  if (!rc) {
    /* The refusal log names the account as the request log does. */
    char name[64] = "";
    pb_account *accts = NULL;
    size_t nacct = 0;
    if (ss->o.store && !pb_account_list(ss->o.store, &accts, &nacct))
      for (size_t i = 0; i < nacct; i++)
        if (accts[i].id == account_id) pb_strlcpy(name, accts[i].name, sizeof(name));
    free(accts);
    pb_proxy_set_identity(s->proxy, name, s->id);
    /* The live view's source, made before any client connects (its root
     * session is then announced to no one). Without it there is no live
     * view; the session works as before. */
    if (pb_screencast_new(pb_browser_cdp(s->browser), s->proxy, ss->o.url_check,
                          ss->o.url_check_data, deadline_ms, &s->cast))
      PB_WARN("sessions: no live view for %s", s->id);
    /* A traced session's trace gets the frames as its filmstrip. */
    if (s->trace && s->cast && pb_screencast_subscribe(s, trace_frame, s, &s->trace_sub))
      PB_WARN("sessions: no filmstrip in the trace of %s", s->id);
  }
  if (!rc) {
    /* Downloads go to the session's own dir in its profile: gone with the
     * browser when the session ends (or with the sweep after a crash). */
    char dl[4096];
    int dl_ok = pb_downloads_dir(pb_browser_profile_dir(s->browser), NULL, dl, sizeof(dl)) == 0 &&
                pb_downloads_prepare(dl) == 0;
    pb_proxy_set_limits(
        s->proxy, ss->o.max_pages, dl_ok ? dl : NULL,
        ss->o.download_max_bytes > 0 ? ss->o.download_max_bytes : PB_DOWNLOAD_MAX_BYTES);
    /* Files in: the session's own area in its profile (uploads.h). */
    if (pb_uploads_open(pb_browser_profile_dir(s->browser), &s->uploads))
      PB_WARN("sessions: no upload area for %s", s->id);
    else
      pb_proxy_set_upload_dir(s->proxy, pb_uploads_dir(s->uploads), pb_uploads_file_ok,
                              s->uploads);
  }
  if (rc && fleet_start) /* its row was open: it ends as it started, at once */
    pb_session_close_record(ss->o.store, s->id, pb_wall_ms(), "Released",
                            "the session could not start");
  pthread_mutex_lock(&ss->mu);
  if (rc) {
    for (pb_session **pp = &ss->live; *pp; pp = &(*pp)->next)
      if (*pp == s) {
        *pp = s->next;
        break;
      }
    pthread_mutex_unlock(&ss->mu);
    if (s->trace && s->browser) pb_cdp_unrecord(pb_browser_cdp(s->browser), trace_rec, s);
    pb_browser_destroy(s->browser);
    if (s->ctx_id[0]) pb_contexts_unclaim(ss->o.contexts, account_id, s->ctx_id, s->id);
    pb_trace_free(s->trace);
    pb_session_unref(s);
    return rc;
  }
  s->start_wall_ms = fleet_start ? fleet_start : pb_wall_ms();
  s->paid_until = s->start_wall_ms;
  s->last_heartbeat = pb_now_ms();
  s->ended = 0;
  pb_strlcpy(id_out, s->id, PB_SESSION_ID_LEN + 1);
  pthread_mutex_unlock(&ss->mu);
  int src = fleet_start ? 0 /* opened by the fleet's count */
                        : pb_session_open_record(ss->o.store, s->id, account_id, s->start_wall_ms);
  if (src) PB_ERR("sessions: history row for %s: %s", s->id, pb_strerror(src));
  int urc = pb_usage_begin(ss->o.store, account_id, "session", s->start_wall_ms, &s->usage_id);
  if (urc) s->usage_id = 0;
  if (urc == PB_ENOCREDIT) {
    /* Its other work spent the last credit since the check above. */
    pthread_mutex_lock(&ss->mu);
    end_locked(ss, s, PB_WS_CLOSE_CREDITS, CREDITS_REASON, CREDITS_TEXT);
    pthread_mutex_unlock(&ss->mu);
    return PB_ENOCREDIT;
  }
  /* A metered session's first beat comes when its credits would end, if
   * that is before the usual one. */
  int64_t bal = 0;
  int metered = 0;
  if (s->usage_id && !pb_store_account_balance(ss->o.store, account_id, &bal, &metered) &&
      metered) {
    int64_t wall = pb_wall_ms(), next = wall;
    pthread_mutex_lock(&ss->mu);
    if (pb_credit_plan(pb_store_price(ss->o.store), bal, s->start_wall_ms, wall,
                       count_locked(ss, account_id), CREDITS_MARGIN_MS, HEARTBEAT_MS, &next))
      next = wall; /* nothing paid yet: the first beat says */
    s->next_beat = pb_now_ms() + (next - wall);
    pthread_mutex_unlock(&ss->mu);
  }
  if (s->ctx_id[0])
    PB_INFO("sessions: %s acquired (browser %d) on context %s%s", s->id,
            (int)pb_browser_pid(s->browser), s->ctx_id, s->ctx_persist ? ", persist" : "");
  else
    PB_INFO("sessions: %s acquired (browser %d)", s->id, (int)pb_browser_pid(s->browser));
  return 0;
}

pb_session *pb_sessions_get(pb_sessions *ss, const char *id, int64_t account_id) {
  pb_session *found = NULL;
  pthread_mutex_lock(&ss->mu);
  for (pb_session *s = ss->live; s; s = s->next)
    if (s->account_id == account_id && s->ended == 0 && !strcmp(s->id, id)) {
      atomic_fetch_add(&s->refs, 1);
      found = s;
      break;
    }
  pthread_mutex_unlock(&ss->mu);
  return found;
}

int pb_sessions_release(pb_sessions *ss, const char *id, int64_t account_id, const char *reason,
                        const char *reason_text) {
  pb_session *found = NULL;
  pthread_mutex_lock(&ss->mu);
  for (pb_session *s = ss->live; s; s = s->next)
    if (s->account_id == account_id && s->ended == 0 && !strcmp(s->id, id)) {
      end_locked(ss, s, 1000, reason, reason_text);
      atomic_fetch_add(&s->refs, 1);
      found = s;
      break;
    }
  pthread_mutex_unlock(&ss->mu);
  if (!found) return PB_ENOTFOUND;
  /* The caller hears back once the session is gone: its history row and
   * trace exist, its browser does not (bounded wait). */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 10;
  pthread_mutex_lock(&found->mu);
  while (!found->torn_down)
    if (pthread_cond_timedwait(&found->idle, &found->mu, &ts) == ETIMEDOUT) break;
  pthread_mutex_unlock(&found->mu);
  pb_session_unref(found);
  return 0;
}

int pb_sessions_end_all(pb_sessions *ss, const char *reason, const char *reason_text) {
  if (!ss) return 0;
  int n = 0, cap = 0;
  pthread_mutex_lock(&ss->mu);
  for (pb_session *s = ss->live; s; s = s->next) cap++;
  pb_session **ended = calloc((size_t)cap + 1, sizeof(*ended));
  for (pb_session *s = ss->live, *next; s; s = next) {
    next = s->next; /* end_locked moves s to the ending list */
    if (s->ended == 0) {
      end_locked(ss, s, 1011, reason, reason_text);
      if (ended) {
        atomic_fetch_add(&s->refs, 1);
        ended[n] = s;
      }
      n++;
    }
  }
  pthread_mutex_unlock(&ss->mu);
  /* Back once each is torn down (as pb_sessions_release, bounded). */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 10;
  for (int i = 0; ended && i < n; i++) {
    pthread_mutex_lock(&ended[i]->mu);
    while (!ended[i]->torn_down)
      if (pthread_cond_timedwait(&ended[i]->idle, &ended[i]->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&ended[i]->mu);
    pb_session_unref(ended[i]);
  }
  free(ended);
  return n;
}

int pb_sessions_live_total(pb_sessions *ss) {
  if (!ss) return 0;
  int n = 0;
  pthread_mutex_lock(&ss->mu);
  for (pb_session *s = ss->live; s; s = s->next) n += s->ended == 0;
  pthread_mutex_unlock(&ss->mu);
  return n;
}

int pb_sessions_present(pb_sessions *ss) {
  if (!ss) return 0;
  pthread_mutex_lock(&ss->mu);
  /* A session being torn down is on no list (the sweeper holds it) and its
   * client has not been sent its close frame yet: it counts. */
  int n = ss->tearing;
  for (int pass = 0; pass < 3; pass++)
    for (pb_session *s = pass == 0 ? ss->live : pass == 1 ? ss->ending : ss->gone; s; s = s->next)
      n++;
  pthread_mutex_unlock(&ss->mu);
  return n;
}

int pb_sessions_list(pb_sessions *ss, int64_t account_id, pb_session_info **out, size_t *n) {
  *out = NULL;
  *n = 0;
  pthread_mutex_lock(&ss->mu);
  int count = count_locked(ss, account_id);
  pb_session_info *v = calloc((size_t)count + 1, sizeof(*v));
  if (!v) {
    pthread_mutex_unlock(&ss->mu);
    return PB_ENOMEM;
  }
  int64_t mono_now = pb_now_ms(), wall_now = pb_wall_ms();
  for (pb_session *s = ss->live; s; s = s->next) {
    if (s->account_id != account_id || s->ended) continue;
    pb_session_info *i = &v[(*n)++];
    pb_strlcpy(i->id, s->id, sizeof(i->id));
    i->start_wall_ms = s->start_wall_ms;
    i->keep_alive_ms = s->keep_alive_ms;
    i->last_activity_wall_ms = wall_now - (mono_now - pb_proxy_last_activity(s->proxy));
    pthread_mutex_lock(&s->mu);
    i->connected = s->conn != NULL;
    pb_strlcpy(i->connection_id, s->conn_id, sizeof(i->connection_id));
    i->connection_start_wall_ms = s->conn_start_wall_ms;
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&ss->mu);
  *out = v;
  return 0;
}

int pb_session_attach(pb_session *s, void *conn) {
  pthread_mutex_lock(&s->mu);
  int rc = 0;
  if (s->ended)
    rc = PB_ENOTFOUND;
  else if (s->conn)
    rc = PB_EBUSY;
  else {
    s->conn = conn;
    s->client_connections++;
    hex_random(s->conn_id, 8);
    s->conn_start_wall_ms = pb_wall_ms();
    pb_proxy_client_attach(s->proxy);
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

void pb_session_detach(pb_session *s, void *conn) {
  pthread_mutex_lock(&s->mu);
  if (s->conn == conn) {
    if (!s->ended) s->client_disconnects++;
    s->conn = NULL;
    s->conn_id[0] = '\0';
    if (s->proxy) pb_proxy_client_detach(s->proxy);
  }
  pthread_mutex_unlock(&s->mu);
}

int pb_session_submit(pb_session *s, char *data, size_t len) {
  pthread_mutex_lock(&s->mu);
  size_t n = 0;
  if (!s->ended && s->proxy)
    n = pb_proxy_submit(s->proxy, data, len);
  else
    free(data);
  pthread_mutex_unlock(&s->mu);
  return n > PB_PROXY_INBOUND_MAX;
}

int pb_session_inbound_full(pb_session *s) {
  pthread_mutex_lock(&s->mu);
  int full = s->proxy && pb_proxy_inbound(s->proxy) > PB_PROXY_INBOUND_MAX;
  pthread_mutex_unlock(&s->mu);
  return full;
}

/* Browser.close, answered by the proxy's thread: the session ends. */
static void close_if_asked(pb_session *s) {
  pthread_mutex_lock(&s->mu);
  int asked = !s->ended && s->proxy && pb_proxy_take_close(s->proxy);
  pthread_mutex_unlock(&s->mu);
  if (!asked) return;
  pthread_mutex_lock(&s->ss->mu);
  end_locked(s->ss, s, 1000, "NormalClosure", "Browser.close");
  pthread_mutex_unlock(&s->ss->mu);
  pb_session_stats stats;
  stats_of(s, &stats);
  pb_session_stats_record(s->ss->o.store, s->id, &stats);
  pb_session_close_record(s->ss->o.store, s->id, pb_wall_ms(), "NormalClosure", "Browser.close");
}

char *pb_session_next_out(pb_session *s, size_t *len) {
  pthread_mutex_lock(&s->mu);
  char *m = s->proxy ? pb_proxy_next_out(s->proxy, len) : NULL;
  pthread_mutex_unlock(&s->mu);
  return m;
}

int pb_session_ended(pb_session *s, const char **reason) {
  close_if_asked(s);
  pthread_mutex_lock(&s->mu);
  int code = s->ended > 0 ? s->ended : 0;
  if (reason) *reason = s->reason;
  pthread_mutex_unlock(&s->mu);
  return code;
}

void pb_sessions_each_conn(pb_sessions *ss, void (*fn)(void *conn, void *data), void *data) {
  pthread_mutex_lock(&ss->mu);
  for (int pass = 0; pass < 3; pass++)
    for (pb_session *s = pass == 0 ? ss->live : pass == 1 ? ss->ending : ss->gone; s; s = s->next) {
      pthread_mutex_lock(&s->mu);
      void *conn = s->conn;
      pthread_mutex_unlock(&s->mu);
      if (conn) fn(conn, data);
    }
  pthread_mutex_unlock(&ss->mu);
}

int pb_session_page_open(pb_session *s, int64_t deadline_ms, pb_page **out) {
  *out = NULL;
  pthread_mutex_lock(&s->mu);
  if (s->ended || !s->browser) {
    pthread_mutex_unlock(&s->mu);
    return PB_ENOTFOUND;
  }
  s->busy++;
  pthread_mutex_unlock(&s->mu);
  pb_page *pg = calloc(1, sizeof(*pg));
  int rc = pg ? 0 : PB_ENOMEM;
  cJSON *res = NULL, *p;
  if (!rc) {
    pg->cdp = pb_browser_cdp(s->browser);
    pg->net_id = pb_browser_net_id(s->browser);
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "url", "about:blank");
    rc = pb_cdp_call(pg->cdp, NULL, "Target.createTarget", p, deadline_ms, &res, NULL, 0);
  }
  if (!rc) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(res, "targetId");
    if (cJSON_IsString(t))
      pb_strlcpy(pg->target_id, t->valuestring, sizeof(pg->target_id));
    else
      rc = PB_ECDP;
  }
  cJSON_Delete(res);
  res = NULL;
  if (!rc) {
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "targetId", pg->target_id);
    cJSON_AddBoolToObject(p, "flatten", 1);
    rc = pb_cdp_call(pg->cdp, NULL, "Target.attachToTarget", p, deadline_ms, &res, NULL, 0);
  }
  if (!rc) {
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(res, "sessionId");
    if (cJSON_IsString(sid))
      pb_strlcpy(pg->session_id, sid->valuestring, sizeof(pg->session_id));
    else
      rc = PB_ECDP;
  }
  cJSON_Delete(res);
  if (!rc) rc = pb_cdp_subscribe(pg->cdp, pg->session_id, &pg->events);
  if (!rc) {
    pb_cdp_send(pg->cdp, pg->session_id, "Page.enable", NULL);
    p = cJSON_CreateObject();
    cJSON_AddBoolToObject(p, "enabled", 1);
    rc = pb_cdp_call(pg->cdp, pg->session_id, "Page.setLifecycleEventsEnabled", p, deadline_ms,
                     NULL, NULL, 0);
  }
  if (rc) {
    pb_session_page_close(s, pg);
    return rc;
  }
  /* A tab's viewport is whatever the browser's window is until set. */
  pg->width = pg->height = -1;
  pg->dsf = 0;
  pg->owner = s;
  *out = pg;
  return 0;
}

void pb_session_page_close(pb_session *s, pb_page *pg) {
  if (pg) {
    if (pg->target_id[0] && pb_cdp_alive(pg->cdp)) {
      cJSON *p = cJSON_CreateObject();
      cJSON_AddStringToObject(p, "targetId", pg->target_id);
      pb_cdp_send(pg->cdp, NULL, "Target.closeTarget", p);
    }
    pb_cdp_unsubscribe(pg->events);
    free(pg);
  }
  pthread_mutex_lock(&s->mu);
  s->busy--;
  pthread_cond_broadcast(&s->idle);
  pthread_mutex_unlock(&s->mu);
}

void pb_sessions_stop(pb_sessions *ss) {
  if (!ss) return;
  pthread_mutex_lock(&ss->mu);
  ss->stopping = 1;
  pthread_cond_signal(&ss->cv);
  pthread_mutex_unlock(&ss->mu);
  pthread_join(ss->sweeper, NULL);
  pthread_mutex_destroy(&ss->mu);
  pthread_cond_destroy(&ss->cv);
  free(ss);
}
