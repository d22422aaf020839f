/**
 * faas-cli's substitution over the stack file's text, before YAML parsing: `${VAR}`,
 * `${VAR:-default}` (also `:=`, `=`, `-`: the default applies when the value is empty or
 * unset, as drone/envsubst does), `$$` for a literal `$`. A bare `$VAR` stays literal.
 */
export function envsubst(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])([^}]*))?\}/g, (whole, name?: string, op?: string, fallback?: string) => {
    if (whole === '$$') return '$'
    const value = env[name as string]
    if (op !== undefined && (value === undefined || value === '')) return fallback ?? ''
    return value ?? ''
  })
}
