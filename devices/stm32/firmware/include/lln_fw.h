/*
 * Liquid Edge MCU firmware core: the MCU side of docs/serial-protocol.md (v1).
 * Portable C99, no HAL, no heap. The board provides a few functions (lln_board_t); the core does
 * framing (COBS + CRC-32), stop-and-wait with a kept response, the model transfer state machine
 * with resume, and MCUboot-like trial/confirm/revert.
 *
 * Integration on a board:
 *   static lln_fw_t fw;
 *   lln_init(&fw, &board, LLN_RESET_POWER_ON);   // at boot, after the board restored its meta
 *   for (;;) { int c = uart_getc(); if (c >= 0) lln_rx_byte(&fw, (uint8_t)c); }
 */
#ifndef LLN_FW_H
#define LLN_FW_H

#include <stddef.h>
#include <stdint.h>

#ifndef LLN_MAX_PAYLOAD
#define LLN_MAX_PAYLOAD 1024
#endif
#define LLN_FRAME_OVERHEAD 8
#define LLN_MAX_RAW (LLN_MAX_PAYLOAD + LLN_FRAME_OVERHEAD)
#define LLN_MAX_ENC (LLN_MAX_RAW + LLN_MAX_RAW / 254 + 2)
#define LLN_SLOTS 2
#define LLN_NO_SLOT 0xFF
#define LLN_PROTOCOL_VERSION 1

enum { LLN_KIND_REQ = 1, LLN_KIND_RSP = 2, LLN_KIND_NAK = 3, LLN_KIND_EVT = 4 };
enum {
  LLN_OP_HELLO = 0x01, LLN_OP_STATUS = 0x02, LLN_OP_XFER_BEGIN = 0x10, LLN_OP_XFER_CHUNK = 0x11,
  LLN_OP_XFER_COMMIT = 0x12, LLN_OP_ERASE = 0x13, LLN_OP_ACTIVATE = 0x20, LLN_OP_CONFIRM = 0x21,
  LLN_OP_REVERT = 0x22, LLN_OP_INFER = 0x30, LLN_OP_STATS = 0x40, LLN_OP_SELFTEST = 0x41,
  LLN_OP_RESET = 0x50, LLN_OP_LOG = 0x60, LLN_OP_BOOT = 0x61
};
enum {
  LLN_OK = 0, LLN_BAD_FRAME = 1, LLN_UNKNOWN_OP = 2, LLN_BAD_REQUEST = 3, LLN_VERSION = 4,
  LLN_SLOT_BUSY = 5, LLN_TOO_LARGE = 6, LLN_BAD_OFFSET = 7, LLN_NO_TRANSFER = 8,
  LLN_HASH_MISMATCH = 9, LLN_NOT_READY = 10, LLN_INPUT_SHAPE = 11, LLN_INFER_FAILED = 12,
  LLN_FLASH_ERROR = 13
};
enum { LLN_SLOT_EMPTY = 0, LLN_SLOT_RECEIVING = 1, LLN_SLOT_READY = 2, LLN_SLOT_BAD = 3 };
enum { LLN_RESET_POWER_ON = 0, LLN_RESET_SOFTWARE = 1, LLN_RESET_WATCHDOG = 2, LLN_RESET_BROWN_OUT = 3 };

/* What must survive a reset: slot trailers and the boot record. The board persists it. */
typedef struct {
  uint8_t state;
  uint32_t size;
  uint32_t written;
  uint8_t sha256[32];
} lln_slot_meta_t;

typedef struct {
  uint32_t magic; /* LLN_META_MAGIC when valid */
  uint8_t active;
  uint8_t confirmed;
  uint32_t resets;
  lln_slot_meta_t slots[LLN_SLOTS];
} lln_meta_t;
#define LLN_META_MAGIC 0x4C4C4E31u

typedef struct {
  uint32_t power_mw;
  int16_t temperature_centi_c;
  uint32_t ram_used;
} lln_sensors_t;

/* The board: every function gets `ctx` back. Return 0 on success. */
typedef struct {
  void *ctx;
  const char *mcu_id, *firmware, *hardware;
  uint32_t flash_bytes, ram_bytes, slot_bytes, cpu_hz;
  void (*uart_write)(void *ctx, const uint8_t *data, size_t len);
  uint32_t (*millis)(void *ctx);
  int (*flash_erase)(void *ctx, uint8_t slot, uint32_t size);
  int (*flash_write)(void *ctx, uint8_t slot, uint32_t offset, const uint8_t *data, size_t len);
  /* Memory-mapped base of a slot (flash is readable in place on STM32). */
  const uint8_t *(*flash_slot)(void *ctx, uint8_t slot);
  int (*meta_save)(void *ctx, const lln_meta_t *meta);
  /* Run the model of a slot image; `cycles` from the DWT cycle counter. */
  int (*infer)(void *ctx, const uint8_t *model, uint32_t model_len, const float *in, uint32_t n_in, float *out,
               uint32_t n_out, uint32_t *cycles);
  void (*sensors)(void *ctx, lln_sensors_t *out);
  /* Reboot the MCU (called after the RESET response was sent). */
  void (*reset)(void *ctx);
} lln_board_t;

typedef struct {
  const lln_board_t *board;
  lln_meta_t meta;
  uint8_t transfer_slot;
  int last_seq; /* -1: none */
  uint8_t evt_seq;
  uint32_t booted_at, stats_at;
  uint32_t inferences, errors, last_us, max_us;
  uint64_t sum_us, energy_uj;
  uint8_t rx[LLN_MAX_ENC];
  size_t rx_len;
  int rx_overflow;
  uint8_t raw[LLN_MAX_RAW];
  uint8_t kept[LLN_MAX_ENC + 1]; /* the last response, for retransmissions */
  size_t kept_len;
} lln_fw_t;

/* Boot: `meta` is what the board restored (zeroed if none). Reverts an unconfirmed trial. */
void lln_init(lln_fw_t *fw, const lln_board_t *board, const lln_meta_t *meta, uint8_t reset_reason);
/* Feed one received UART byte. */
void lln_rx_byte(lln_fw_t *fw, uint8_t byte);
/* Send a LOG event (best effort). */
void lln_log(lln_fw_t *fw, uint8_t level, const char *text);

/* Building blocks, exposed for tests. */
size_t lln_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);
/* Returns the decoded length, or (size_t)-1 when malformed. */
size_t lln_cobs_decode(const uint8_t *in, size_t len, uint8_t *out);
uint32_t lln_crc32(const uint8_t *data, size_t len);
typedef struct {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t fill;
} lln_sha256_t;
void lln_sha256_init(lln_sha256_t *s);
void lln_sha256_update(lln_sha256_t *s, const uint8_t *data, size_t len);
void lln_sha256_final(lln_sha256_t *s, uint8_t out[32]);

#endif
