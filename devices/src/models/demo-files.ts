import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateSigningKeys, loadPrivateKey, publicKeyPem } from '@liquid-edge/package'
import * as z from 'zod'
import { buildDemoPackages, type DemoOptions } from './demo.js'

/** `index.json` of a demo directory: what each package is, for scripts and end-to-end tests. */
export const DemoIndexSchema = z.object({
  publicKeyPem: z.string(),
  packages: z.array(
    z.object({
      file: z.string(),
      name: z.string(),
      version: z.string(),
      description: z.string(),
      sha256: z.string(),
      size: z.number().int().positive(),
      signature: z.string(),
      latencyThresholdMs: z.number(),
      energyBudgetMw: z.number().nullable(),
    }),
  ),
})
export type DemoIndex = z.infer<typeof DemoIndexSchema>

/**
 * Write the signed demo packages, `publisher.pub.pem` and `index.json` into `outDir`. The signing key
 * is read from `keyPath`, or generated there (mode 0600) when the file does not exist.
 */
export async function writeDemoPackages(
  outDir: string,
  keyPath: string,
  options: Omit<DemoOptions, 'privateKey'> = {},
): Promise<DemoIndex> {
  let pem: string
  await mkdir(outDir, { recursive: true })
  await mkdir(dirname(keyPath), { recursive: true })
  try {
    pem = await readFile(keyPath, 'utf8')
  } catch {
    pem = generateSigningKeys().privateKeyPem
    await writeFile(keyPath, pem, { mode: 0o600, flag: 'wx' })
  }
  const privateKey = loadPrivateKey(pem)
  const packages = await buildDemoPackages({ ...options, privateKey })
  const index: DemoIndex = { publicKeyPem: publicKeyPem(privateKey), packages: [] }
  for (const p of packages) {
    await writeFile(join(outDir, p.fileName), p.bytes)
    index.packages.push({
      file: p.fileName,
      name: p.manifest.name,
      version: p.manifest.version,
      description: p.manifest.description,
      sha256: p.sha256,
      size: p.bytes.byteLength,
      signature: p.signature,
      latencyThresholdMs: p.manifest.latencyThresholdMs,
      energyBudgetMw: p.manifest.energyBudgetMw,
    })
  }
  await writeFile(join(outDir, 'publisher.pub.pem'), index.publicKeyPem)
  await writeFile(join(outDir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`)
  return index
}
