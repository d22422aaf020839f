// The dashboard: renders the gateway's snapshot stream (/system/ui-stream), tails each
// function's logs, invokes functions and replays dead letters. Plain DOM, no dependencies:
// the gateway serves this file as is.
/* global document, window, EventSource, FormData, setInterval */

const $ = (selector, root = document) => root.querySelector(selector)
const cards = new Map()
let names = []

const fmt = {
  rate: (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)),
  percent: (v) => `${(v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1)} %`,
  ms: (v) => (v == null ? '–' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 10 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`),
}

function set(card, field, text) {
  const el = $(`[data-field="${field}"]`, card)
  if (el.textContent !== String(text)) el.textContent = String(text)
  return el
}

function card(fn) {
  let el = cards.get(fn.name)
  if (!el) {
    el = $('#card').content.firstElementChild.cloneNode(true)
    el.dataset.fn = fn.name
    cards.set(fn.name, el)
  }
  return el
}

function points(values, max) {
  const n = values.length
  if (n === 0) return ''
  const dx = n > 1 ? 300 / (n - 1) : 0
  return values.map((v, i) => `${(i * dx).toFixed(1)},${(62 - (v / max) * 58).toFixed(1)}`).join(' ')
}

/** Topics, and the schedule (the topic cron-function) with its next run. */
function triggerText(t) {
  const topics = t.topics.filter((topic) => topic !== 'cron-function' || !t.schedule)
  const parts = topics.length ? [`topics ${topics.join(', ')}`] : []
  if (t.schedule) parts.push(`schedule ${t.schedule}${t.nextRun ? `, next ${new Date(t.nextRun).toLocaleTimeString()}` : ''}`)
  return parts.join(' · ')
}

function renderFunction(fn) {
  const el = card(fn)
  set(el, 'name', fn.name)
  const status = set(el, 'status', fn.status)
  status.dataset.state = fn.status
  el.dataset.status = fn.status
  set(el, 'lang', fn.lang)
  const reason = $('[data-field="reason"]', el)
  reason.hidden = !fn.reason
  if (reason.textContent !== (fn.reason ?? '')) reason.textContent = fn.reason ?? ''
  const triggers = $('[data-field="triggers"]', el)
  triggers.hidden = !fn.triggers
  set(el, 'triggers', fn.triggers ? triggerText(fn.triggers) : '')
  // Injected faults stay listed while active: a test's failures should not look like the function's.
  const faults = $('[data-field="faults"]', el)
  faults.hidden = !fn.faults?.length
  const faultText = fn.faults?.length ? `faults injected: ${fn.faults.join(', ')}` : ''
  if (faults.textContent !== faultText) faults.textContent = faultText
  const held = fn.heldBack ? ` (${fn.heldBack} held back)` : fn.scaleHold ? ` (load asks ${fn.scaleHold.wanted})` : ''
  const replicas = set(el, 'replicas', `${fn.ready}/${fn.desired}${held}`)
  replicas.title = fn.heldBack
    ? `${fn.heldBack} replica(s) held back by the machine budget of worker threads (--max-replicas-total)`
    : fn.scaleHold
      ? `the load asks for ${fn.scaleHold.wanted} replicas; held at ${fn.desired}: ${fn.scaleHold.why}`
      : 'ready / desired'
  // Capacity is what the ready replicas can take before the next call gets a 429.
  const inflight = set(el, 'inflight', fn.maxInflight ? `${fn.inflight} / ${fn.maxInflight * fn.ready}` : fn.inflight)
  inflight.title = fn.maxInflight ? `in flight / capacity (max_inflight ${fn.maxInflight} × ${fn.ready} ready)` : 'no max_inflight'
  // A skipped or unbuilt function has nothing to measure: its card only says why.
  for (const part of el.querySelectorAll('dl, figure, details')) part.hidden = !fn.deployed
  set(el, 'calls', fmt.rate(fn.callsPerSec))
  set(el, 'errorRate', fmt.percent(fn.errorRate)).classList.toggle('alert', fn.errorRate > 0)
  set(el, 'p95', fmt.ms(fn.p95Ms))
  set(el, 'throttled', fn.throttledTotal).classList.toggle('alert', fn.throttledPerSec > 0)
  const queue = fn.queue ?? {}
  set(el, 'pending', (queue.pending ?? 0) + (queue.inflight ? ` (+${queue.inflight} running)` : ''))
  set(el, 'retrying', queue.retrying ?? 0)
  set(el, 'deadLetters', queue.deadLetters ?? 0).classList.toggle('alert', (queue.deadLetters ?? 0) > 0)

  const { callsPerSec = [], throttledPerSec = [], step = 5 } = fn.series ?? {}
  const max = Math.max(1, ...callsPerSec, ...throttledPerSec)
  $('polyline.calls', el).setAttribute('points', points(callsPerSec, max))
  $('polyline.throttled', el).setAttribute('points', points(throttledPerSec, max))
  const minutes = Math.round((callsPerSec.length * step) / 60)
  set(el, 'chartMax', `· last ${minutes} min, top ${fmt.rate(max)}/s`)
  return el
}

function render(snapshot) {
  const list = $('#functions')
  $('#no-functions').hidden = snapshot.functions.length > 0
  const seen = new Set()
  for (const fn of snapshot.functions) {
    seen.add(fn.name)
    const el = renderFunction(fn)
    if (el.parentElement !== list) list.append(el)
  }
  for (const [name, el] of cards) {
    if (!seen.has(name)) {
      el.remove()
      cards.delete(name)
    }
  }
  names = snapshot.functions.filter((f) => f.deployed).map((f) => f.name)
  const select = $('#invoke-name')
  const current = [...select.options].map((o) => o.value).join('\n')
  if (current !== names.join('\n')) {
    const chosen = select.value
    select.replaceChildren(...names.map((n) => new window.Option(n, n, false, n === chosen)))
  }
  $('#updated').textContent = `updated ${new Date(snapshot.time).toLocaleTimeString()}`
}

function connect() {
  const badge = $('#connection')
  const stream = new EventSource('/system/ui-stream')
  stream.onopen = () => {
    badge.textContent = 'live'
    badge.dataset.state = 'connected'
  }
  stream.onmessage = (event) => render(JSON.parse(event.data))
  // EventSource reconnects by itself; only say so.
  stream.onerror = () => {
    badge.textContent = 'disconnected, retrying…'
    badge.dataset.state = 'disconnected'
  }
}

// Logs come from /system/logs (OpenFaaS NDJSON); a gateway without it just shows nothing.
async function refreshLogs() {
  for (const name of names) {
    const el = cards.get(name)
    if (!el) continue
    try {
      const res = await fetch(`/system/logs?name=${encodeURIComponent(name)}&tail=30`)
      if (!res.ok) continue
      const lines = (await res.text())
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          try {
            const m = JSON.parse(l)
            return `${m.instance ?? name} | ${m.text ?? ''}`
          } catch {
            return l
          }
        })
      const pre = $('[data-field="logs"]', el)
      const text = lines.join('\n')
      if (pre.textContent !== text) {
        const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4
        pre.textContent = text
        if (atBottom) pre.scrollTop = pre.scrollHeight
      }
    } catch {
      // the gateway is restarting: try again on the next tick
    }
  }
}

function showResult(state, statusText, meta, body) {
  $('#invoke-result').hidden = false
  const status = $('#invoke-status')
  status.textContent = statusText
  status.dataset.state = state
  $('#invoke-meta').textContent = meta
  $('#invoke-body').textContent = body.length > 20000 ? `${body.slice(0, 20000)}\n… (${body.length} characters)` : body
}

async function followAsync(callId) {
  // /system/async-function/CALL_ID may not exist; stop at the first answer that is not JSON.
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 500))
    const res = await fetch(`/system/async-function/${encodeURIComponent(callId)}`).catch(() => undefined)
    if (!res || !res.ok) return
    const info = await res.json().catch(() => undefined)
    if (!info) return
    const status = info.status ?? 'unknown'
    $('#invoke-meta').textContent = `call ${callId} · ${status}${info.attempts ? ` · attempts ${info.attempts}` : ''}${info.lastStatus ?? info.statusCode ? ` · last status ${info.lastStatus ?? info.statusCode}` : ''}`
    if (['succeeded', 'failed', 'dead-lettered'].includes(status)) return
  }
}

async function invoke(event) {
  event.preventDefault()
  const form = event.target
  const data = new FormData(form)
  const name = data.get('name')
  if (!name) return
  const method = data.get('method')
  const async = data.get('mode') === 'async'
  let path = String(data.get('path') ?? '').trim()
  if (path && !path.startsWith('/') && !path.startsWith('?')) path = `/${path}`
  const url = `/${async ? 'async-function' : 'function'}/${encodeURIComponent(name)}${path}`
  const body = String(data.get('body') ?? '')
  const hasBody = !['GET', 'HEAD'].includes(method) && body !== ''
  const headers = hasBody && data.get('contentType') ? { 'content-type': String(data.get('contentType')) } : {}
  const button = $('button[type="submit"]', form)
  button.disabled = true
  const started = performance.now()
  try {
    const res = await fetch(url, { method: async ? 'POST' : method, headers, ...(hasBody ? { body } : {}) })
    let text = await res.text()
    if (/json/.test(res.headers.get('content-type') ?? '')) {
      try {
        text = JSON.stringify(JSON.parse(text), null, 2)
      } catch {
        // not JSON after all: show it as it came
      }
    }
    const ms = performance.now() - started
    const callId = res.headers.get('x-call-id') ?? ''
    showResult(res.ok ? 'ok' : 'error', `${res.status} ${res.statusText}`, `${fmt.ms(ms)}${callId ? ` · call ${callId}` : ''}`, text)
    if (async && res.status === 202 && callId) void followAsync(callId)
  } catch (err) {
    showResult('error', 'failed', '', String(err))
  } finally {
    button.disabled = false
  }
}

// Dead letters from /system/queue/dead-letters; absent without an async queue.
async function refreshDeadLetters() {
  const res = await fetch('/system/queue/dead-letters').catch(() => undefined)
  const table = $('#dead-letters')
  const empty = $('#dead-letters-empty')
  if (!res || !res.ok) {
    table.hidden = true
    empty.hidden = false
    empty.textContent = res && res.status === 404 ? 'none (no async queue)' : 'none'
    return
  }
  const json = await res.json().catch(() => [])
  const items = Array.isArray(json) ? json : (json.items ?? json.deadLetters ?? json.messages ?? [])
  table.hidden = items.length === 0
  empty.hidden = items.length > 0
  empty.textContent = 'none'
  const rows = items.map((item) => {
    const id = item.callId ?? item.id ?? ''
    const tr = document.createElement('tr')
    tr.dataset.callId = id
    if (item.lastBody) tr.title = `last answer: ${String(item.lastBody).slice(0, 500)}`
    const cells = [id, item.function ?? item.name ?? item.functionName ?? '', item.attempts ?? '', item.lastStatus ?? item.status ?? item.statusCode ?? '']
    for (const [i, value] of cells.entries()) {
      const td = document.createElement('td')
      if (i === 0) {
        // Call ids are long: the start tells them apart, the whole one is in the tooltip.
        const code = document.createElement('code')
        code.textContent = String(value).slice(0, 8)
        code.title = String(value)
        td.append(code)
      } else td.textContent = String(value)
      tr.append(td)
    }
    const td = document.createElement('td')
    const button = document.createElement('button')
    button.type = 'button'
    button.textContent = 'Replay'
    button.addEventListener('click', () => void replay(id, button))
    td.append(button)
    tr.append(td)
    return tr
  })
  $('tbody', table).replaceChildren(...rows)
}

async function replay(id, button) {
  button.disabled = true
  const res = await fetch(`/system/queue/dead-letters/${encodeURIComponent(id)}/retry`, { method: 'POST' }).catch(() => undefined)
  $('#dead-letters-result').textContent = res ? `replay ${id}: ${res.status} ${res.statusText}` : `replay ${id}: failed`
  await refreshDeadLetters()
}

function every(ms, task) {
  let running = false
  const tick = async () => {
    if (running) return
    running = true
    try {
      await task()
    } finally {
      running = false
    }
  }
  void tick()
  setInterval(() => void tick(), ms)
}

$('#invoke').addEventListener('submit', (e) => void invoke(e))
connect()
every(2000, refreshLogs)
every(3000, refreshDeadLetters)
