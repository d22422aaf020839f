/**
 * A function's triggers, read from its annotations as the OpenFaaS connectors read them:
 * `topic` is a comma-separated list of topics (the connector-sdk's delimiter), and the
 * topic `cron-function` with a `schedule` makes the cron-connector invoke it. Pure.
 */
import { parseSchedule, type Schedule } from './schedule.js'

/** The cron-connector's topic. */
export const CRON_TOPIC = 'cron-function'

export interface FunctionTriggers {
  /** Every topic listed, `cron-function` included. */
  topics: string[]
  /** Present when the topics include `cron-function`. */
  schedule?: Schedule
}

export interface AnnotationProblem {
  /** `topic` or `schedule`. */
  key: string
  detail: string
}

export type TriggersResult = { ok: true; triggers: FunctionTriggers; warning?: AnnotationProblem } | { ok: false; problem: AnnotationProblem }

/** A NATS subject a message can be published to: dot-separated tokens, no wildcard, no space, not a `$` system subject. */
export function isPublishableTopic(topic: string): boolean {
  return topic.length > 0 && topic.length <= 256 && !topic.startsWith('$') && topic.split('.').every((t) => t !== '' && t !== '*' && t !== '>' && !/[\s*>]/.test(t))
}

export function readTriggers(annotations: Record<string, string>): TriggersResult {
  const topic = annotations.topic
  const topics = topic === undefined ? [] : [...new Set(topic.split(',').map((t) => t.trim()).filter(Boolean))]
  for (const t of topics) {
    if (!isPublishableTopic(t)) {
      return { ok: false, problem: { key: 'topic', detail: `${JSON.stringify(t)} is not a topic: dot-separated names without spaces or the wildcards * and > (the connectors match topics exactly)` } }
    }
  }
  const scheduleText = annotations.schedule
  if (!topics.includes(CRON_TOPIC)) {
    const warning = scheduleText !== undefined ? { key: 'schedule', detail: `ignored without "topic: ${CRON_TOPIC}" (the cron-connector only reads schedules of functions with that topic)` } : undefined
    return { ok: true, triggers: { topics }, ...(warning ? { warning } : {}) }
  }
  if (scheduleText === undefined) return { ok: false, problem: { key: 'topic', detail: `"${CRON_TOPIC}" needs a schedule annotation (e.g. schedule: "*/5 * * * *")` } }
  const parsed = parseSchedule(scheduleText)
  if (!parsed.ok) return { ok: false, problem: { key: 'schedule', detail: `${JSON.stringify(scheduleText)} is not a schedule: ${parsed.error}` } }
  return { ok: true, triggers: { topics, schedule: parsed.schedule } }
}
