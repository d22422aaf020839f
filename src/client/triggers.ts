/** `faasdev publish`, and the triggers `list` and `describe` show (from `GET /system/triggers`). */
import { ClientError, expectOk, request, type ClientContext } from './http.js'

export interface TriggerStatus {
  name: string
  topics: string[]
  schedule?: string
  nextRun?: string
}

/** Each function's triggers; empty against a gateway that has no `/system/triggers`. */
export async function triggersByName(ctx: ClientContext): Promise<Map<string, TriggerStatus>> {
  const res = await request(ctx, '/system/triggers')
  if (res.status === 404) return new Map()
  const list = (await (await expectOk(res, 'reading triggers')).json()) as TriggerStatus[]
  return new Map(list.map((t) => [t.name, t]))
}

/** `orders.created, cron "@every 30s" next 12:00:30` (the topic cron-function is the schedule). */
export function describeTriggers(t: TriggerStatus | undefined): string {
  if (!t) return ''
  const parts = t.topics.filter((topic) => topic !== 'cron-function' || !t.schedule)
  if (t.schedule) parts.push(`cron "${t.schedule}"${t.nextRun ? ` next ${when(t.nextRun)}` : ''}`)
  return parts.join(', ')
}

function when(iso: string): string {
  const d = new Date(iso)
  const time = d.toTimeString().slice(0, 8)
  return d.toDateString() === new Date().toDateString() ? time : `${d.toISOString().slice(0, 10)} ${time}`
}

export interface PublishOptions {
  /** `-d DATA`, or stdin. */
  body: Uint8Array
  contentType?: string
}

function looksLikeJson(body: Uint8Array): boolean {
  try {
    JSON.parse(new TextDecoder().decode(body))
    return true
  } catch {
    return false
  }
}

export async function publish(ctx: ClientContext, topic: string, o: PublishOptions): Promise<void> {
  const body = o.body
  // A message that parses as JSON is sent as JSON (template handlers then get it parsed), unless told otherwise.
  const contentType = o.contentType ?? (body.length > 0 && looksLikeJson(body) ? 'application/json' : 'text/plain')
  const res = await request(ctx, `/system/publish/${encodeURIComponent(topic)}`, { method: 'POST', headers: { 'content-type': contentType }, body: body as unknown as BodyInit })
  if (!res.ok) {
    const text = (await res.text()).trim()
    throw new ClientError(`publishing to ${topic}: ${res.status}${text ? ` ${text}` : ''}`)
  }
  const answer = (await res.json()) as { topic: string; calls: { function: string; callId: string }[] }
  if (ctx.json) return ctx.out(`${JSON.stringify(answer)}\n`)
  ctx.out(`Published to ${topic}: ${answer.calls.length} call(s)\n${answer.calls.map((c) => `  ${c.function}  ${c.callId}`).join('\n')}\n`)
}
