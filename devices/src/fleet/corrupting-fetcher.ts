import { open } from 'node:fs/promises'
import type { ArtifactFetcher } from '@liquid-edge/agent'
import type { Faults } from '../simulated/faults.js'

/**
 * The "corrupted download" fault: wraps a fetcher and, while the fault is on, flips one byte of
 * every artifact it downloads — the agent must refuse it (`PACKAGE_SHA256_MISMATCH`).
 */
export function corruptingFetcher(inner: ArtifactFetcher, faults: Faults): ArtifactFetcher {
  return {
    async fetch(request) {
      await inner.fetch(request)
      if (!faults.settings.corruptDownload) return
      const file = await open(request.destPath, 'r+')
      try {
        const { size } = await file.stat()
        if (size === 0) return
        const at = Math.floor(size / 2)
        const byte = Buffer.alloc(1)
        await file.read(byte, 0, 1, at)
        byte[0] = (byte[0] ?? 0) ^ 0xff
        await file.write(byte, 0, 1, at)
      } finally {
        await file.close()
      }
    },
  }
}
