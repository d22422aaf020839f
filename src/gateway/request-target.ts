/**
 * Reading the request target the way the router does. find-my-way matches the path after
 * dropping an absolute-form `http://host` and percent-decoding everything but reserved
 * characters (`%2F` stays three characters), so raw `/` boundaries and the router's segments
 * are the same ones: slicing the raw target by segments, never by the length of a decoded
 * name, keeps both in step however the client spelled the path.
 */

/** The raw path and query of a request target: an absolute-form `http://host` prefix is dropped. */
export function originForm(url: string): string {
  if (url.charCodeAt(0) === 47) return url
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url)
  if (!authority) return url
  const rest = url.slice(authority[0].length)
  return rest.startsWith('/') ? rest : `/${rest}`
}

/**
 * Everything after the first two segments (`/function/NAME`) as the client sent it, at least
 * `/`, then the query. find-my-way ends the path at `#` as at `?`, so the first of them starts
 * the query and a later `#` is query data (`%23`): the function sees the query the router saw.
 */
export function subPath(url: string): string {
  const target = originForm(url)
  let at = 0
  for (let segment = 0; segment < 2 && at < target.length; segment++) {
    at++
    while (at < target.length) {
      const c = target.charCodeAt(at)
      if (c === 47 || c === 63 || c === 35) break // / ? #
      at++
    }
  }
  const rest = target.slice(at)
  const query = rest.search(/[?#]/)
  if (query < 0) return rest || '/'
  return `${rest.slice(0, query) || '/'}?${rest.slice(query + 1).replaceAll('#', '%23')}`
}

/** The first segments OpenFaaS protects: the system API and the UI. */
const PROTECTED = new Set(['system', 'ui'])

/** Whether a route, as registered (`/system/function/:name`), is behind `--auth`. */
export function isProtectedRoute(pattern: string): boolean {
  return PROTECTED.has(firstSegment(pattern.toLowerCase()))
}

/** Whether a route's first segment is a parameter or wildcard: the path decides, not the pattern. */
export function isOpenPattern(pattern: string): boolean {
  return pattern === '/*' || pattern.startsWith('/:') || pattern.startsWith('/*')
}

function firstSegment(path: string): string {
  const end = path.indexOf('/', 1)
  return path.slice(1, end < 0 ? path.length : end)
}

/**
 * For a request no route matched: whether any reading of its path (percent-decoded again and
 * again, any case, `\` as `/`, `;params`, control characters and empty or dot segments dropped,
 * `..` applied or not) starts under a protected prefix. Such a 404 answers 401 without
 * credentials, so the system API cannot be mapped from outside.
 */
export function looksProtected(url: string): boolean {
  let path = originForm(url)
  const end = path.search(/[?#]/)
  if (end >= 0) path = path.slice(0, end)
  for (let i = 0; i < 4 && path.includes('%'); i++) {
    const decoded = path.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    if (decoded === path) break
    path = decoded
  }
  const segments = path
    .toLowerCase()
    .split(/[/\\]/)
    .map((s) => s.split(';')[0]?.replace(/[\0-\x20\x7f]/g, '') ?? '')
    .filter((s) => s !== '' && s !== '.')
  if (PROTECTED.has(segments[0] ?? '')) return true
  const resolved: string[] = []
  for (const s of segments) {
    if (s === '..') resolved.pop()
    else resolved.push(s)
  }
  return PROTECTED.has(resolved[0] ?? '')
}
