// Starts a kafkajs transactional producer and prints, as one JSON line, how it ended:
// {"ok": true} when a transaction began, else the error's name and message; "lookups" counts
// the FindCoordinator requests kafkajs sent (more than one means it retried).
// Usage: node transactional_producer.js HOST:PORT TRANSACTIONAL_ID
const { Kafka, logLevel } = require('kafkajs')

async function main () {
  const [bootstrap, transactionalId] = process.argv.slice(2)
  const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
  let lookups = 0
  producer.on(producer.events.REQUEST, ({ payload }) => {
    if (payload.apiName === 'GroupCoordinator') lookups += 1
  })
  let outcome
  try {
    await producer.connect()
    const transaction = await producer.transaction()
    await transaction.abort()
    outcome = { ok: true }
  } catch (error) {
    outcome = { ok: false, name: error.name, message: error.message }
  }
  await producer.disconnect().catch(() => {})
  console.log(JSON.stringify({ ...outcome, lookups }))
}

main()
