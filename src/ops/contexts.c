/* /browser/contexts: an account's persistent contexts (sessions/contexts.h
 * keeps them). Another account's context is answered exactly as one that
 * does not exist. */
#include "ops/ops.h"

#include "common/pb.h"

#include <stdlib.h>

static cJSON *context_json(const pb_context_rec *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", r->id);
  if (r->has_name)
    cJSON_AddStringToObject(o, "name", r->name);
  else
    cJSON_AddNullToObject(o, "name");
  cJSON_AddNumberToObject(o, "createdAt", (double)r->created_ms);
  if (r->saved_ms)
    cJSON_AddNumberToObject(o, "savedAt", (double)r->saved_ms);
  else
    cJSON_AddNullToObject(o, "savedAt");
  cJSON_AddNumberToObject(o, "bytes", (double)r->bytes);
  cJSON_AddBoolToObject(o, "inUse", r->session_id[0] != '\0');
  return o;
}

static int not_found(pb_op_result *res, const char *id) {
  return pb_op_fail(res, PB_CODE_CONTEXT_NOT_FOUND, "no context %.40s for this account",
                    pb_context_id_valid(id) ? id : "with that id");
}

static int no_contexts(pb_op_result *res) {
  return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "persistent contexts are not available");
}

int pb_op_context_create(pb_job *job, pb_op_result *res) {
  if (!job->env->contexts) return no_contexts(res);
  pb_context_rec rec;
  int rc =
      pb_contexts_create(job->env->contexts, job->account_id, job->opts.name, &job->limits, &rec);
  if (rc == PB_EBUSY)
    return pb_op_fail(res, PB_CODE_CONTEXT_QUOTA_EXCEEDED,
                      "the account has its maximum of %d contexts (maxContexts); delete one first",
                      job->limits.max_contexts);
  if (rc == PB_ETOOBIG)
    return pb_op_fail(res, PB_CODE_CONTEXT_QUOTA_EXCEEDED,
                      "the account's contexts take their %lld MiB (contextStorageMiB) already",
                      (long long)job->limits.context_storage_mib);
  if (rc == PB_ENOSPACE) return pb_op_fail(res, PB_CODE_STORAGE_FULL, "the data dir is full");
  if (rc) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "creating the context failed");
  return pb_op_json(res, context_json(&rec));
}

int pb_op_contexts_list(pb_job *job, pb_op_result *res) {
  if (!job->env->contexts) return no_contexts(res);
  pb_context_rec *v = NULL;
  size_t n = 0;
  if (pb_context_list(job->env->store, job->account_id, &v, &n))
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "listing the contexts failed");
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, context_json(&v[i]));
  free(v);
  return pb_op_json(res, arr);
}

int pb_op_context_get(pb_job *job, pb_op_result *res) {
  const char *id = job->opts.id ? job->opts.id : "";
  if (!job->env->contexts) return no_contexts(res);
  pb_context_rec rec;
  if (!pb_context_id_valid(id) || pb_context_get(job->env->store, job->account_id, id, &rec))
    return not_found(res, id);
  return pb_op_json(res, context_json(&rec));
}

int pb_op_context_delete(pb_job *job, pb_op_result *res) {
  const char *id = job->opts.id ? job->opts.id : "";
  if (!job->env->contexts) return no_contexts(res);
  int rc = pb_contexts_delete(job->env->contexts, job->account_id, id);
  if (rc == PB_ENOTFOUND) return not_found(res, id);
  if (rc == PB_EBUSY)
    return pb_op_fail(res, PB_CODE_CONTEXT_IN_USE,
                      "a live session runs on context %s; release it first", id);
  if (rc) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "deleting the context failed");
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "id", id);
  cJSON_AddStringToObject(out, "status", "deleted");
  return pb_op_json(res, out);
}

int pb_op_context_check(pb_job *job, const char *id, int persist, pb_op_result *res) {
  if (!job->env->contexts) return no_contexts(res);
  pb_context_rec rec;
  if (!pb_context_id_valid(id) || pb_context_get(job->env->store, job->account_id, id, &rec))
    return not_found(res, id);
  int64_t total = 0;
  if (persist && !pb_context_total_bytes(job->env->store, job->account_id, &total) &&
      total > (job->limits.context_storage_mib << 20))
    return pb_op_fail(res, PB_CODE_CONTEXT_QUOTA_EXCEEDED,
                      "the account's contexts take more than their %lld MiB (contextStorageMiB): "
                      "a session could not save; delete a context, or acquire without persist",
                      (long long)job->limits.context_storage_mib);
  return 0;
}
