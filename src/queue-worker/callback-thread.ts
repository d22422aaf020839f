/**
 * The callback thread: sends the callbacks the main thread hands over (see `CallbackSender`)
 * and answers with their outcomes, those finished in one turn together in one message.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { CallbackClient, type CallbackOptions, type FromCallbackThread, type ToCallbackThread } from './callback.js'

const port = parentPort
if (!port) throw new Error('callback-thread.js runs as a worker thread of faasdev')

const client = new CallbackClient(workerData as CallbackOptions)
let done: FromCallbackThread['batch'] = []

function flush(): void {
  const batch = done
  done = []
  port?.postMessage({ t: 'done', batch } satisfies FromCallbackThread)
}

port.on('message', (msg: ToCallbackThread) => {
  for (const { id, url, headers, body } of msg.batch) {
    client.send(url, headers, body, (outcome) => {
      if (done.push({ id, outcome }) === 1) setImmediate(flush)
    })
  }
})
