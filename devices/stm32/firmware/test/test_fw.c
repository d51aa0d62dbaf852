/* Host unit tests of the firmware core (run by devices/test/stm32-firmware.test.ts, or `make test`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lln_fw.h"

static int failures;
#define CHECK(c)                                                     \
  do {                                                               \
    if (!(c)) {                                                      \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);            \
      failures++;                                                    \
    }                                                                \
  } while (0)

#define SLOT 4096
static uint8_t flash[LLN_SLOTS][SLOT];
static lln_meta_t saved;
static uint8_t tx[65536];
static size_t tx_len;
static int writes;

static void uart_write(void *c, const uint8_t *d, size_t n) { (void)c, memcpy(tx + tx_len, d, n), tx_len += n; }
static uint32_t millis(void *c) { return (void)c, 1000; }
static int erase(void *c, uint8_t s, uint32_t n) { return (void)c, memset(flash[s], 0xFF, n), 0; }
static int fwrite_(void *c, uint8_t s, uint32_t o, const uint8_t *d, size_t n) {
  (void)c, writes++;
  return memcpy(flash[s] + o, d, n), 0;
}
static const uint8_t *slot_(void *c, uint8_t s) { return (void)c, flash[s]; }
static int msave(void *c, const lln_meta_t *m) { return (void)c, saved = *m, 0; }
static int infer(void *c, const uint8_t *m, uint32_t ml, const float *in, uint32_t ni, float *out, uint32_t no, uint32_t *cy) {
  (void)c, (void)m, (void)ml;
  for (uint32_t j = 0; j < no; j++) out[j] = in[0] * 2 + (float)j + (float)ni * 0;
  return *cy = 4800, 0;
}
static void sensors(void *c, lln_sensors_t *s) { (void)c, s->power_mw = 200, s->temperature_centi_c = 2500, s->ram_used = 1; }
static int resets;
static void reset(void *c) { (void)c, resets++; }
static const lln_board_t board = {NULL, "t", "fw", "stm32h743", 1 << 20, 1 << 19, SLOT, 480000000u, uart_write, millis,
                                  erase, fwrite_, slot_, msave, infer, sensors, reset};
static lln_fw_t fw;

typedef struct { uint8_t kind, seq, op, status; uint8_t payload[LLN_MAX_PAYLOAD]; size_t len; } frame_t;

/* Decode the last frame in tx. */
static int last_frame(frame_t *f) {
  if (tx_len < 2) return 0;
  size_t end = tx_len - 1, start = end;
  while (start > 0 && tx[start - 1] != 0) start--;
  uint8_t raw[LLN_MAX_RAW];
  size_t n = lln_cobs_decode(tx + start, end - start, raw);
  if (n == (size_t)-1 || n < 8) return 0;
  uint32_t crc = raw[n - 4] | raw[n - 3] << 8 | raw[n - 2] << 16 | (uint32_t)raw[n - 1] << 24;
  if (crc != lln_crc32(raw, n - 4)) return 0;
  f->kind = raw[0], f->seq = raw[1], f->op = raw[2], f->status = raw[3], f->len = n - 8;
  memcpy(f->payload, raw + 4, f->len);
  return 1;
}

static void feed(const uint8_t *d, size_t n) { for (size_t i = 0; i < n; i++) lln_rx_byte(&fw, d[i]); }

static frame_t request(uint8_t seq, uint8_t op, const uint8_t *p, size_t len) {
  uint8_t raw[LLN_MAX_RAW], enc[LLN_MAX_ENC + 1];
  raw[0] = LLN_KIND_REQ, raw[1] = seq, raw[2] = op, raw[3] = 0;
  memcpy(raw + 4, p, len);
  uint32_t c = lln_crc32(raw, 4 + len);
  for (int i = 0; i < 4; i++) raw[4 + len + i] = (uint8_t)(c >> (8 * i));
  size_t n = lln_cobs_encode(raw, 8 + len, enc);
  enc[n++] = 0;
  tx_len = 0;
  feed(enc, n);
  frame_t f;
  memset(&f, 0, sizeof f);
  if (!last_frame(&f)) f.kind = 0xEE;
  return f;
}

static uint32_t u32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static size_t make_image(uint8_t *img, size_t model_len) {
  memset(img, 0, 84);
  memcpy(img, "LLNM", 4);
  img[4] = 1, img[5] = 2, img[8] = 4, img[12] = 3, img[16] = (uint8_t)model_len, img[17] = (uint8_t)(model_len >> 8);
  img[68] = 1, img[72] = 4;
  for (size_t i = 0; i < model_len; i++) img[84 + i] = (uint8_t)(i * 7);
  return 84 + model_len;
}

static uint8_t seq;
static frame_t begin(uint8_t slot, const uint8_t *img, size_t size) {
  uint8_t p[37];
  lln_sha256_t h;
  p[0] = slot, p[1] = (uint8_t)size, p[2] = (uint8_t)(size >> 8), p[3] = 0, p[4] = 0;
  lln_sha256_init(&h), lln_sha256_update(&h, img, size), lln_sha256_final(&h, p + 5);
  return request(++seq, LLN_OP_XFER_BEGIN, p, 37);
}
static frame_t chunk(uint32_t off, const uint8_t *d, size_t n) {
  uint8_t p[LLN_MAX_PAYLOAD];
  p[0] = (uint8_t)off, p[1] = (uint8_t)(off >> 8), p[2] = (uint8_t)(off >> 16), p[3] = 0;
  memcpy(p + 4, d, n);
  return request(++seq, LLN_OP_XFER_CHUNK, p, n + 4);
}

int main(void) {
  /* codecs */
  CHECK(lln_crc32((const uint8_t *)"123456789", 9) == 0xCBF43926u);
  uint8_t dig[32], enc[600], dec[600], data[520];
  lln_sha256_t h;
  lln_sha256_init(&h), lln_sha256_update(&h, (const uint8_t *)"abc", 3), lln_sha256_final(&h, dig);
  CHECK(dig[0] == 0xba && dig[1] == 0x78 && dig[31] == 0xad);
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i % 3 == 0 ? 0 : i);
  size_t n = lln_cobs_encode(data, sizeof data, enc);
  CHECK(memchr(enc, 0, n) == NULL);
  CHECK(lln_cobs_decode(enc, n, dec) == sizeof data && memcmp(dec, data, sizeof data) == 0);

  /* boot and hello */
  tx_len = 0;
  lln_init(&fw, &board, NULL, LLN_RESET_POWER_ON);
  frame_t f;
  CHECK(last_frame(&f) && f.kind == LLN_KIND_EVT && f.op == LLN_OP_BOOT);
  uint8_t hello[4] = {1, 1, 0, 4};
  f = request(++seq, LLN_OP_HELLO, hello, 4);
  CHECK(f.kind == LLN_KIND_RSP && f.status == LLN_OK && f.payload[0] == 1);
  CHECK((f.payload[1] | f.payload[2] << 8) == LLN_MAX_PAYLOAD);
  uint8_t bad_version[4] = {2, 3, 0, 4};
  CHECK(request(++seq, LLN_OP_HELLO, bad_version, 4).status == LLN_VERSION);

  /* a transfer interrupted by a reset resumes */
  uint8_t img[3000];
  size_t size = make_image(img, 2000);
  f = begin(1, img, size);
  CHECK(f.status == LLN_OK && u32(f.payload) == 0);
  CHECK(chunk(0, img, 1000).status == LLN_OK);
  f = chunk(0, img, 1000); /* a stale offset is refused with the right one */
  CHECK(f.status == LLN_BAD_OFFSET && u32(f.payload) == 1000);
  tx_len = 0;
  lln_init(&fw, &board, &saved, LLN_RESET_BROWN_OUT);
  CHECK(chunk(1000, img + 1000, 1000).status == LLN_NO_TRANSFER);
  f = begin(1, img, size);
  CHECK(f.status == LLN_OK && u32(f.payload) == 1000);
  CHECK(chunk(1000, img + 1000, 1000).status == LLN_OK);
  /* a retransmitted chunk (same seq) is answered again, not written again */
  int w = writes;
  uint8_t p[LLN_MAX_PAYLOAD];
  uint32_t off = 2000;
  p[0] = (uint8_t)off, p[1] = (uint8_t)(off >> 8), p[2] = 0, p[3] = 0;
  memcpy(p + 4, img + 2000, size - 2000);
  frame_t a = request(++seq, LLN_OP_XFER_CHUNK, p, size - 2000 + 4);
  frame_t b = request(seq, LLN_OP_XFER_CHUNK, p, size - 2000 + 4);
  CHECK(a.status == LLN_OK && b.status == LLN_OK && u32(b.payload) == size && writes == w + 1);
  f = request(++seq, LLN_OP_XFER_COMMIT, NULL, 0);
  CHECK(f.status == LLN_OK && saved.slots[1].state == LLN_SLOT_READY);

  /* a corrupted frame gets a NAK */
  uint8_t junk[6] = {5, 1, 2, 3, 4, 0};
  tx_len = 0;
  feed(junk, 6);
  CHECK(last_frame(&f) && f.kind == LLN_KIND_NAK && f.status == LLN_BAD_FRAME);

  /* trial, infer, and revert at reset */
  uint8_t act[2] = {1, 0};
  CHECK(request(++seq, LLN_OP_ACTIVATE, act, 2).status == LLN_OK);
  uint8_t in[17] = {0xFF};
  float x = 1.5f;
  for (int i = 0; i < 4; i++) memcpy(in + 1 + 4 * i, &x, 4);
  f = request(++seq, LLN_OP_INFER, in, 17);
  float y1;
  memcpy(&y1, f.payload + 16, 4);
  CHECK(f.status == LLN_OK && f.len == 12 + 12 && u32(f.payload) == 4800 && u32(f.payload + 4) == 10 && y1 == 4.0f);
  CHECK(request(++seq, LLN_OP_INFER, in, 9).status == LLN_INPUT_SHAPE);
  tx_len = 0;
  lln_init(&fw, &board, &saved, LLN_RESET_BROWN_OUT);
  CHECK(saved.active == LLN_NO_SLOT);
  size_t boot_end = 0;
  while (boot_end < tx_len && tx[boot_end] != 0) boot_end++;
  uint8_t raw[64];
  CHECK(lln_cobs_decode(tx, boot_end, raw) == 10 && raw[2] == LLN_OP_BOOT && raw[5] == 1);
  CHECK(request(++seq, LLN_OP_INFER, in, 17).status == LLN_NOT_READY);
  /* confirmed, it survives a reset; the confirmed slot cannot be overwritten */
  CHECK(request(++seq, LLN_OP_ACTIVATE, act, 2).status == LLN_OK);
  CHECK(request(++seq, LLN_OP_CONFIRM, NULL, 0).status == LLN_OK);
  lln_init(&fw, &board, &saved, LLN_RESET_WATCHDOG);
  CHECK(saved.active == 1 && saved.confirmed == 1);
  CHECK(begin(1, img, size).status == LLN_SLOT_BUSY);

  /* a wrong hash is caught at commit */
  img[100] ^= 1;
  uint8_t good[37];
  f = begin(0, img, size);
  img[100] ^= 1;
  (void)good;
  for (uint32_t o = 0; o < size; o += 1000) chunk(o, img + o, size - o < 1000 ? size - o : 1000);
  CHECK(request(++seq, LLN_OP_XFER_COMMIT, NULL, 0).status == LLN_HASH_MISMATCH);
  CHECK(saved.slots[0].state == LLN_SLOT_BAD);

  /* reset op answers, then resets */
  CHECK(request(++seq, LLN_OP_RESET, NULL, 0).status == LLN_OK && resets == 1);
  CHECK(request(++seq, 0x7E, NULL, 0).status == LLN_UNKNOWN_OP);

  printf(failures == 0 ? "ok: all firmware tests passed\n" : "%d firmware checks failed\n", failures);
  return failures == 0 ? 0 : 1;
}
