/**
 * The callback thread: sends the callbacks the main thread hands over (see `CallbackSender`)
 * and answers with their outcomes, those finished in one turn together in one message.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { CALLBACK_FIELDS, CallbackClient, fromBatch, type CallbackOptions, type CallbackOutcome, type FromCallbackThread, type ToCallbackThread } from './callback.js'

const port = parentPort
if (!port) throw new Error('callback-thread.js runs as a worker thread of faasdev')

const client = new CallbackClient(workerData as CallbackOptions)
let answered: FromCallbackThread['answered'] = []
let failed: FromCallbackThread['failed'] = []

function flush(): void {
  const message: FromCallbackThread = { t: 'done', answered, failed }
  answered = []
  failed = []
  port?.postMessage(message)
}

function finished(id: number, outcome: CallbackOutcome): void {
  const first = answered.length === 0 && failed.length === 0
  if (outcome.error === undefined) answered.push(id, outcome.status ?? 0, outcome.attempts)
  else failed.push(id, outcome.attempts, outcome.error)
  if (first) setImmediate(flush)
}

port.on('message', (msg: ToCallbackThread) => {
  const { batch } = msg
  for (let i = 0; i < batch.length; i += CALLBACK_FIELDS) {
    const { id, url, headers, body } = fromBatch(batch, i)
    client.send(url, headers, body, (outcome) => finished(id, outcome))
  }
})
