import { describe } from 'vitest'
import { JetStreamQueue } from '../../src/queue/jetstream.js'
import { queueContract } from '../contract/queue-contract.js'
import { SKIP_NATS, useNatsServer } from '../nats-helper.js'

describe.skipIf(SKIP_NATS)('JetStream backend', () => {
  const nats = useNatsServer()
  let n = 0
  // A stream per test: each test sets its own limits.
  queueContract('jetstream', (limits) => new JetStreamQueue({ url: nats.url, queueName: `contract${++n}`, maxMessages: limits.maxMessages, maxBytes: limits.maxBytes, log: () => undefined }))
})
