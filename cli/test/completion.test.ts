import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { EXIT, runCli } from '../src/index.js'

async function lln(...args: string[]): Promise<{ code: number; out: string }> {
  let out = ''
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (out += s), env: {}, isTTY: false })
  return { code, out }
}

/** What bash offers for the words typed so far, with the script sourced into a real bash. */
async function complete(script: string, words: string[]): Promise<string[]> {
  const probe = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _liquid_lln; printf '%s\\n' "\${COMPREPLY[@]}"`
  const { stdout } = await promisify(execFile)('bash', ['-c', probe])
  return stdout.split('\n').filter((l) => l !== '')
}

describe('liquid-lln completion', () => {
  it('bash completes verbs, subcommands and the flags of each verb', async () => {
    const { code, out } = await lln('completion', 'bash')
    expect(code).toBe(EXIT.OK)
    expect(await complete(out, ['liquid-lln', 'gro'])).toEqual(['group'])
    expect(await complete(out, ['liquid-lln', 'group', 'a'])).toEqual(['add'])
    expect(await complete(out, ['liquid-lln', 'deploy', '--ta'])).toEqual(['--target'])
    expect(await complete(out, ['liquid-lln', 'rollback', '--to-'])).toEqual(['--to-previous', '--to-version'])
  })

  it('zsh and fish scripts name the same commands; another shell is a usage error', async () => {
    expect((await lln('completion', 'zsh')).out).toContain('complete -F _liquid_lln liquid-lln')
    const fish = (await lln('completion', 'fish')).out
    expect(fish).toContain("complete -c liquid-lln -n '__fish_use_subcommand' -a deploy")
    expect(fish).toContain("complete -c liquid-lln -n '__fish_seen_subcommand_from deploy' -l batch-size")
    expect((await lln('completion', 'tcsh')).code).toBe(EXIT.USAGE)
  })
})
