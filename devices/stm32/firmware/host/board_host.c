/*
 * A host "board" for the firmware core: the UART is stdin/stdout (run it behind a pseudo-terminal,
 * see devices/src/stm32/pty/pty-bridge.py --exec), flash slots are RAM arrays, the meta record is
 * kept across soft resets. SIGUSR1 simulates a brown-out reset.
 *
 * The stand-in "model" (a real board links X-CUBE-AI or TFLM here): out[j] = sum(in) + model[j % len] / 256.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lln_fw.h"

#define SLOT_BYTES (256u * 1024u)
static uint8_t slots[LLN_SLOTS][SLOT_BYTES];
static lln_meta_t saved;
static volatile sig_atomic_t reset_reason = -1;

static void uart_write(void *ctx, const uint8_t *d, size_t n) {
  (void)ctx;
  while (n > 0) {
    ssize_t w = write(1, d, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(1);
    d += w, n -= (size_t)w;
  }
}
static uint32_t millis(void *ctx) {
  (void)ctx;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint32_t)(t.tv_sec * 1000 + t.tv_nsec / 1000000);
}
static int flash_erase(void *ctx, uint8_t slot, uint32_t size) {
  (void)ctx;
  memset(slots[slot], 0xFF, size);
  return 0;
}
static int flash_write(void *ctx, uint8_t slot, uint32_t off, const uint8_t *d, size_t n) {
  (void)ctx;
  memcpy(slots[slot] + off, d, n);
  return 0;
}
static const uint8_t *flash_slot(void *ctx, uint8_t slot) { return (void)ctx, slots[slot]; }
static int meta_save(void *ctx, const lln_meta_t *m) { return (void)ctx, saved = *m, 0; }
static int infer(void *ctx, const uint8_t *model, uint32_t model_len, const float *in, uint32_t n_in, float *out,
                 uint32_t n_out, uint32_t *cycles) {
  (void)ctx;
  float sum = 0;
  for (uint32_t i = 0; i < n_in; i++) sum += in[i];
  for (uint32_t j = 0; j < n_out; j++) out[j] = sum + (float)model[j % model_len] / 256.0f;
  *cycles = 1000 + 10 * n_in * n_out;
  return 0;
}
static void sensors(void *ctx, lln_sensors_t *s) {
  (void)ctx;
  s->power_mw = 150, s->temperature_centi_c = 3100, s->ram_used = 48 * 1024;
}
static void do_reset(void *ctx) { (void)ctx, reset_reason = LLN_RESET_SOFTWARE; }
static void on_usr1(int sig) { (void)sig, reset_reason = LLN_RESET_BROWN_OUT; }

int main(int argc, char **argv) {
  const char *id = argc > 1 ? argv[1] : "host-mcu-1";
  lln_board_t board = {NULL, id, "lln-fw-c-0.1.0", "stm32h743", 2u * 1024 * 1024, 1024u * 1024, SLOT_BYTES,
                       480000000u, uart_write, millis, flash_erase, flash_write, flash_slot, meta_save, infer, sensors,
                       do_reset};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1; /* no SA_RESTART: read() returns EINTR */
  sigaction(SIGUSR1, &sa, NULL);
  static lln_fw_t fw;
  lln_init(&fw, &board, NULL, LLN_RESET_POWER_ON);
  uint8_t buf[4096];
  for (;;) {
    if (reset_reason >= 0) {
      uint8_t why = (uint8_t)reset_reason;
      reset_reason = -1;
      lln_init(&fw, &board, &saved, why);
    }
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    for (ssize_t i = 0; i < n; i++) lln_rx_byte(&fw, buf[i]);
  }
}
