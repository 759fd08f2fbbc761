#include "common/errcode.h"

static const char *const texts[PB_CODE_COUNT] = {[PB_CODE_NONE] = "",
#define PB_CODE_TEXT_(name, text) [PB_CODE_##name] = text,
                                                 PB_CODES(PB_CODE_TEXT_)
#undef PB_CODE_TEXT_
};

const char *pb_code_text(pb_code code) {
  if ((int)code < 0 || code >= PB_CODE_COUNT) return "";
  return texts[code];
}
