/**
 * The one place credentials in URLs are masked, for everything faasdev prints, stores or
 * answers: log lines, error messages, the status and dead-letter APIs. A password becomes
 * `***` and the user is kept (`http://ci:***@host/cb`); a user part without a password is a
 * token (NATS, many webhooks) and is masked whole (`nats://***@host:4222`).
 */

/**
 * Every `scheme://userinfo@` in the text. The userinfo runs to the last `@` before the host
 * ends (`/`, `?`, `#` or whitespace), as the WHATWG URL parser reads a password holding `@`;
 * several URLs in one text (`--nats-url a,b`) are each matched.
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi

/** `text` with the credentials of every URL in it masked; text without `@` is returned as is. */
export function redactUrl(text: string): string {
  if (!text.includes('@')) return text
  return text.replace(USERINFO, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':')
    return `${scheme}${colon < 0 ? '***' : `${userinfo.slice(0, colon)}:***`}@`
  })
}
