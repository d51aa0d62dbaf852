/* The MCU side of the Liquid Edge serial protocol v1 (docs/serial-protocol.md). */
#include <string.h>
#include "lln_fw.h"

#define IMAGE_HEADER 84

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v), put16(p + 2, v >> 16); }
static uint32_t get32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* Encode and send one frame; keep it when it is a response. */
static void send_frame(lln_fw_t *fw, uint8_t kind, uint8_t seq, uint8_t op, uint8_t status, const uint8_t *payload,
                       size_t len) {
  static uint8_t raw[LLN_MAX_RAW];
  static uint8_t enc[LLN_MAX_ENC + 1];
  raw[0] = kind, raw[1] = seq, raw[2] = op, raw[3] = status;
  if (len > 0 && payload != raw + 4) memmove(raw + 4, payload, len);
  put32(raw + 4 + len, lln_crc32(raw, 4 + len));
  size_t n = lln_cobs_encode(raw, 8 + len, enc);
  enc[n++] = 0;
  if (kind == LLN_KIND_RSP) {
    memcpy(fw->kept, enc, n);
    fw->kept_len = op == LLN_OP_HELLO ? 0 : n;
  }
  fw->board->uart_write(fw->board->ctx, enc, n);
}

void lln_log(lln_fw_t *fw, uint8_t level, const char *text) {
  uint8_t p[2 + 255];
  size_t n = strlen(text);
  if (n > 200) n = 200;
  p[0] = level, p[1] = (uint8_t)n;
  memcpy(p + 2, text, n);
  send_frame(fw, LLN_KIND_EVT, ++fw->evt_seq, LLN_OP_LOG, 0, p, 2 + n);
}

static void save_meta(lln_fw_t *fw) { fw->board->meta_save(fw->board->ctx, &fw->meta); }

void lln_init(lln_fw_t *fw, const lln_board_t *board, const lln_meta_t *meta, uint8_t reset_reason) {
  memset(fw, 0, sizeof *fw);
  fw->board = board;
  fw->last_seq = -1;
  fw->transfer_slot = LLN_NO_SLOT;
  if (meta != NULL && meta->magic == LLN_META_MAGIC) {
    fw->meta = *meta;
  } else {
    fw->meta.magic = LLN_META_MAGIC;
    fw->meta.active = fw->meta.confirmed = LLN_NO_SLOT;
  }
  fw->meta.resets++;
  uint8_t reverted = fw->meta.active != fw->meta.confirmed; /* MCUboot: an unconfirmed trial reverts */
  if (reverted) fw->meta.active = fw->meta.confirmed;
  save_meta(fw);
  fw->booted_at = fw->stats_at = board->millis(board->ctx);
  uint8_t boot[2] = {reset_reason, reverted};
  send_frame(fw, LLN_KIND_EVT, ++fw->evt_seq, LLN_OP_BOOT, 0, boot, 2);
  if (reverted) lln_log(fw, 2, "unconfirmed trial reverted at boot");
}

static size_t slots_block(const lln_fw_t *fw, uint8_t *p) {
  size_t n = 0;
  p[n++] = fw->meta.active, p[n++] = fw->meta.confirmed;
  for (int i = 0; i < LLN_SLOTS; i++) {
    const lln_slot_meta_t *s = &fw->meta.slots[i];
    p[n++] = s->state;
    put32(p + n, s->size), put32(p + n + 4, s->written), n += 8;
    memcpy(p + n, s->sha256, 32), n += 32;
  }
  return n;
}

static size_t str8(uint8_t *p, const char *s) {
  size_t n = strlen(s) > 255 ? 255 : strlen(s);
  p[0] = (uint8_t)n;
  memcpy(p + 1, s, n);
  return n + 1;
}

/* A slot image that is READY and well formed: fills the lengths and the model pointer. */
static int ready_image(lln_fw_t *fw, uint8_t slot, uint32_t *n_in, uint32_t *n_out, const uint8_t **model,
                       uint32_t *model_len) {
  if (slot >= LLN_SLOTS || fw->meta.slots[slot].state != LLN_SLOT_READY) return 0;
  const uint8_t *img = fw->board->flash_slot(fw->board->ctx, slot);
  uint32_t size = fw->meta.slots[slot].size;
  if (size < IMAGE_HEADER || memcmp(img, "LLNM", 4) != 0 || img[4] != 1) return 0;
  *n_in = get32(img + 8), *n_out = get32(img + 12), *model_len = get32(img + 16);
  *model = img + IMAGE_HEADER;
  return IMAGE_HEADER + *model_len == size;
}

/* Each handler reads `req` (len bytes) and writes its response payload into `out`; returns a status. */
typedef uint8_t (*handler_t)(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *out_len);

static uint8_t op_hello(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  if (len < 4) return LLN_BAD_REQUEST;
  if (req[0] > LLN_PROTOCOL_VERSION || req[1] < LLN_PROTOCOL_VERSION) return LLN_VERSION;
  uint32_t host_max = req[2] | (uint32_t)req[3] << 8;
  const lln_board_t *b = fw->board;
  size_t k = 0;
  out[k++] = LLN_PROTOCOL_VERSION;
  put16(out + k, host_max < LLN_MAX_PAYLOAD ? host_max : LLN_MAX_PAYLOAD), k += 2;
  k += str8(out + k, b->mcu_id), k += str8(out + k, b->firmware), k += str8(out + k, b->hardware);
  put32(out + k, b->flash_bytes), put32(out + k + 4, b->ram_bytes), put32(out + k + 8, b->slot_bytes), k += 12;
  out[k++] = LLN_SLOTS;
  put32(out + k, b->cpu_hz), k += 4;
  *n = k + slots_block(fw, out + k);
  return LLN_OK;
}

static uint8_t op_status(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  (void)req, (void)len;
  *n = slots_block(fw, out);
  return LLN_OK;
}

static int slot_busy(const lln_fw_t *fw, uint8_t slot) { return slot == fw->meta.active || slot == fw->meta.confirmed; }

static uint8_t op_begin(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  if (len < 37 || req[0] >= LLN_SLOTS) return LLN_BAD_REQUEST;
  uint8_t slot = req[0];
  uint32_t size = get32(req + 1);
  if (slot_busy(fw, slot)) return LLN_SLOT_BUSY;
  if (size == 0 || size > fw->board->slot_bytes) return LLN_TOO_LARGE;
  lln_slot_meta_t *s = &fw->meta.slots[slot];
  fw->transfer_slot = slot;
  *n = 4;
  if (s->state == LLN_SLOT_RECEIVING && s->size == size && memcmp(s->sha256, req + 5, 32) == 0) {
    put32(out, s->written); /* resume */
    return LLN_OK;
  }
  if (fw->board->flash_erase(fw->board->ctx, slot, size) != 0) return LLN_FLASH_ERROR;
  s->state = LLN_SLOT_RECEIVING, s->size = size, s->written = 0;
  memcpy(s->sha256, req + 5, 32);
  save_meta(fw);
  put32(out, 0);
  return LLN_OK;
}

static uint8_t op_chunk(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  if (len < 4) return LLN_BAD_REQUEST;
  if (fw->transfer_slot == LLN_NO_SLOT) return LLN_NO_TRANSFER;
  lln_slot_meta_t *s = &fw->meta.slots[fw->transfer_slot];
  if (s->state != LLN_SLOT_RECEIVING) return LLN_NO_TRANSFER;
  uint32_t offset = get32(req), data_len = (uint32_t)len - 4;
  *n = 4;
  put32(out, s->written);
  if (offset != s->written) return LLN_BAD_OFFSET;
  if (offset + data_len > s->size) return LLN_TOO_LARGE;
  if (fw->board->flash_write(fw->board->ctx, fw->transfer_slot, offset, req + 4, data_len) != 0) return LLN_FLASH_ERROR;
  s->written += data_len;
  save_meta(fw);
  put32(out, s->written);
  return LLN_OK;
}

static uint8_t op_commit(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  (void)req, (void)len;
  if (fw->transfer_slot == LLN_NO_SLOT) return LLN_NO_TRANSFER;
  lln_slot_meta_t *s = &fw->meta.slots[fw->transfer_slot];
  if (s->state != LLN_SLOT_RECEIVING) return LLN_NO_TRANSFER;
  if (s->written != s->size) {
    put32(out, s->written), *n = 4;
    return LLN_BAD_OFFSET;
  }
  lln_sha256_t h;
  lln_sha256_init(&h);
  lln_sha256_update(&h, fw->board->flash_slot(fw->board->ctx, fw->transfer_slot), s->size);
  lln_sha256_final(&h, out);
  *n = 32;
  fw->transfer_slot = LLN_NO_SLOT;
  s->state = memcmp(out, s->sha256, 32) == 0 ? LLN_SLOT_READY : LLN_SLOT_BAD;
  save_meta(fw);
  return s->state == LLN_SLOT_READY ? LLN_OK : LLN_HASH_MISMATCH;
}

static uint8_t op_erase(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  (void)out, (void)n;
  if (len < 1 || req[0] >= LLN_SLOTS) return LLN_BAD_REQUEST;
  if (slot_busy(fw, req[0])) return LLN_SLOT_BUSY;
  memset(&fw->meta.slots[req[0]], 0, sizeof(lln_slot_meta_t));
  if (fw->transfer_slot == req[0]) fw->transfer_slot = LLN_NO_SLOT;
  save_meta(fw);
  return LLN_OK;
}

static uint8_t op_activate(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  uint32_t n_in, n_out, model_len;
  const uint8_t *model;
  if (len < 2 || req[0] >= LLN_SLOTS || req[1] > 1) return LLN_BAD_REQUEST;
  if (!ready_image(fw, req[0], &n_in, &n_out, &model, &model_len)) return LLN_NOT_READY;
  fw->meta.active = req[0];
  if (req[1] == 1) fw->meta.confirmed = req[0];
  save_meta(fw);
  *n = slots_block(fw, out);
  return LLN_OK;
}

static uint8_t op_confirm(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  (void)req, (void)len;
  if (fw->meta.active == LLN_NO_SLOT) return LLN_NOT_READY;
  fw->meta.confirmed = fw->meta.active;
  save_meta(fw);
  *n = slots_block(fw, out);
  return LLN_OK;
}

static uint8_t op_revert(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  (void)req, (void)len;
  fw->meta.active = fw->meta.confirmed;
  save_meta(fw);
  *n = slots_block(fw, out);
  return LLN_OK;
}

static uint8_t op_infer(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  static float in[LLN_MAX_PAYLOAD / 4], res[LLN_MAX_PAYLOAD / 4];
  uint32_t n_in, n_out, model_len, cycles = 0;
  const uint8_t *model;
  if (len < 1) return LLN_BAD_REQUEST;
  uint8_t slot = req[0] == LLN_NO_SLOT ? fw->meta.active : req[0];
  if (!ready_image(fw, slot, &n_in, &n_out, &model, &model_len)) return LLN_NOT_READY;
  if ((len - 1) != n_in * 4) return LLN_INPUT_SHAPE;
  if (n_out * 4 + 12 > LLN_MAX_PAYLOAD) return LLN_TOO_LARGE;
  memcpy(in, req + 1, n_in * 4); /* little-endian MCU: wire floats are native */
  if (fw->board->infer(fw->board->ctx, model, model_len, in, n_in, res, n_out, &cycles) != 0) {
    fw->errors++;
    return LLN_INFER_FAILED;
  }
  uint32_t us = (uint32_t)((uint64_t)cycles * 1000000u / fw->board->cpu_hz);
  lln_sensors_t s = {0, 0, 0};
  fw->board->sensors(fw->board->ctx, &s);
  uint32_t energy_uj = (uint32_t)((uint64_t)s.power_mw * us / 1000u);
  fw->inferences++, fw->last_us = us, fw->sum_us += us, fw->energy_uj += energy_uj;
  if (us > fw->max_us) fw->max_us = us;
  put32(out, cycles), put32(out + 4, us), put32(out + 8, energy_uj);
  memcpy(out + 12, res, n_out * 4);
  *n = 12 + n_out * 4;
  return LLN_OK;
}

static uint8_t op_stats(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  (void)req, (void)len;
  lln_sensors_t s = {0, 0, 0};
  fw->board->sensors(fw->board->ctx, &s);
  uint32_t now = fw->board->millis(fw->board->ctx);
  put32(out, now - fw->booted_at), put32(out + 4, fw->inferences), put32(out + 8, fw->errors);
  put32(out + 12, fw->last_us), put32(out + 16, fw->inferences ? (uint32_t)(fw->sum_us / fw->inferences) : 0);
  put32(out + 20, fw->max_us), put32(out + 24, (uint32_t)(fw->energy_uj / 1000u)), put32(out + 28, s.power_mw);
  put16(out + 32, (uint16_t)s.temperature_centi_c);
  put32(out + 34, s.ram_used), put32(out + 38, fw->board->ram_bytes), put32(out + 42, fw->meta.resets);
  fw->stats_at = now;
  *n = 46;
  return LLN_OK;
}

static uint8_t op_selftest(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  (void)fw, (void)req, (void)len;
  out[0] = lln_crc32((const uint8_t *)"123456789", 9) == 0xCBF43926u;
  *n = 1 + str8(out + 1, out[0] ? "crc and link OK" : "CRC self-check failed");
  return LLN_OK;
}

static uint8_t op_reset(lln_fw_t *fw, const uint8_t *req, size_t len, uint8_t *out, size_t *n) {
  (void)fw, (void)req, (void)len, (void)out, (void)n;
  return LLN_OK;
}

static handler_t handler_for(uint8_t op) {
  switch (op) {
    case LLN_OP_HELLO: return op_hello;
    case LLN_OP_STATUS: return op_status;
    case LLN_OP_XFER_BEGIN: return op_begin;
    case LLN_OP_XFER_CHUNK: return op_chunk;
    case LLN_OP_XFER_COMMIT: return op_commit;
    case LLN_OP_ERASE: return op_erase;
    case LLN_OP_ACTIVATE: return op_activate;
    case LLN_OP_CONFIRM: return op_confirm;
    case LLN_OP_REVERT: return op_revert;
    case LLN_OP_INFER: return op_infer;
    case LLN_OP_STATS: return op_stats;
    case LLN_OP_SELFTEST: return op_selftest;
    case LLN_OP_RESET: return op_reset;
    default: return NULL;
  }
}

static void on_frame(lln_fw_t *fw, size_t enc_len) {
  static uint8_t out[LLN_MAX_PAYLOAD];
  size_t raw_len = lln_cobs_decode(fw->rx, enc_len, fw->raw);
  if (raw_len == (size_t)-1 || raw_len < LLN_FRAME_OVERHEAD || raw_len > LLN_MAX_RAW ||
      lln_crc32(fw->raw, raw_len - 4) != get32(fw->raw + raw_len - 4)) {
    send_frame(fw, LLN_KIND_NAK, 0, 0, LLN_BAD_FRAME, NULL, 0);
    return;
  }
  if (fw->raw[0] != LLN_KIND_REQ) return;
  uint8_t seq = fw->raw[1], op = fw->raw[2];
  if (op != LLN_OP_HELLO && seq == fw->last_seq && fw->kept_len > 0) {
    fw->board->uart_write(fw->board->ctx, fw->kept, fw->kept_len); /* a retransmission: answer again */
    return;
  }
  handler_t h = handler_for(op);
  size_t n = 0;
  uint8_t status = h == NULL ? LLN_UNKNOWN_OP : h(fw, fw->raw + 4, raw_len - LLN_FRAME_OVERHEAD, out, &n);
  fw->last_seq = seq;
  send_frame(fw, LLN_KIND_RSP, seq, op, status, out, n);
  if (op == LLN_OP_RESET) fw->board->reset(fw->board->ctx);
}

void lln_rx_byte(lln_fw_t *fw, uint8_t byte) {
  if (byte != 0) {
    if (fw->rx_len < sizeof fw->rx) fw->rx[fw->rx_len++] = byte;
    else fw->rx_overflow = 1;
    return;
  }
  size_t len = fw->rx_len;
  int overflow = fw->rx_overflow;
  fw->rx_len = 0, fw->rx_overflow = 0;
  if (len == 0) return;
  if (overflow) {
    send_frame(fw, LLN_KIND_NAK, 0, 0, LLN_BAD_FRAME, NULL, 0);
    return;
  }
  on_frame(fw, len);
}
