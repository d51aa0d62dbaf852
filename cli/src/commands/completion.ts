import type { Command } from 'commander'
import { choice } from '../parse.js'
import type { Context } from '../context.js'

/** Every command path (`deploy`, `group add`, …) with its long flags, from the program itself. */
function commandTable(program: Command): { path: string; flags: string[] }[] {
  const out: { path: string; flags: string[] }[] = []
  const walk = (c: Command, prefix: string[]): void => {
    for (const sub of c.commands) {
      const path = [...prefix, sub.name()]
      out.push({ path: path.join(' '), flags: sub.options.map((o) => o.long).filter((f): f is string => f !== undefined) })
      walk(sub, path)
    }
  }
  walk(program, [])
  return out
}

function bash(table: { path: string; flags: string[] }[], globals: string[]): string {
  const cases = table.map((t) => `    "${t.path}") opts="${t.flags.join(' ')}" ;;`).join('\n')
  const tops = table.filter((t) => !t.path.includes(' ')).map((t) => t.path)
  const subs = (top: string): string =>
    table
      .filter((t) => t.path.startsWith(`${top} `))
      .map((t) => t.path.slice(top.length + 1))
      .join(' ')
  const subCases = tops
    .filter((t) => subs(t) !== '')
    .map((t) => `    ${t}) words="${subs(t)}" ;;`)
    .join('\n')
  return `# liquid-lln completion for bash: source <(liquid-lln completion bash)
_liquid_lln() {
  local cur words opts path i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) path="\${path:+$path }\${COMP_WORDS[i]}" ;; esac
  done
  if [[ -z "$path" ]]; then COMPREPLY=($(compgen -W "${tops.join(' ')} ${globals.join(' ')}" -- "$cur")); return; fi
  case "$path" in
${subCases}
  esac
  opts=""
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words $opts ${globals.join(' ')}" -- "$cur"))
}
complete -F _liquid_lln liquid-lln
`
}

function zsh(table: { path: string; flags: string[] }[], globals: string[]): string {
  return `#compdef liquid-lln
# liquid-lln completion for zsh: source <(liquid-lln completion zsh)
autoload -U bashcompinit && bashcompinit
${bash(table, globals)}`
}

function fish(table: { path: string; flags: string[] }[], globals: string[]): string {
  const lines = ['# liquid-lln completion for fish: liquid-lln completion fish | source', 'complete -c liquid-lln -f']
  for (const t of table) {
    const parts = t.path.split(' ')
    const name = parts[parts.length - 1] ?? ''
    const parent = parts.slice(0, -1)
    const cond = parent.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${parent[parent.length - 1] ?? ''}`
    lines.push(`complete -c liquid-lln -n '${cond}' -a ${name}`)
    for (const f of t.flags) lines.push(`complete -c liquid-lln -n '__fish_seen_subcommand_from ${name}' -l ${f.slice(2)}`)
  }
  for (const g of globals) lines.push(`complete -c liquid-lln -l ${g.slice(2)}`)
  return `${lines.join('\n')}\n`
}

/** `liquid-lln completion bash|zsh|fish`: a completion script made from the commands themselves. */
export function registerCompletion(program: Command, ctx: Context): void {
  program
    .command('completion <shell>')
    .description('print a shell completion script: bash (source <(liquid-lln completion bash)), zsh or fish')
    .action((shell: string) => {
      const which = choice(shell, ['bash', 'zsh', 'fish'], 'completion')
      const table = commandTable(program)
      const globals = program.options.map((o) => o.long).filter((f): f is string => f !== undefined)
      ctx.io.stdout({ bash, zsh, fish }[which](table, globals))
    })
}
