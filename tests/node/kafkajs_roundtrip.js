// kafkajs (a pure JavaScript Kafka client) against sluice's embedded broker:
// create a topic, produce, consume in a group, commit, and check that a
// second member of the group starts after the commit. Prints one JSON line.
const { Kafka, logLevel } = require("kafkajs");

const [bootstrap, topicBase, group, countText] = process.argv.slice(2);
const topic = `${topicBase}-kafkajs`;
const count = Number(countText || 3000);

const kafka = new Kafka({ clientId: "sluice-test", brokers: [bootstrap], logLevel: logLevel.WARN });

async function consume(want, idleMs) {
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  let last = Date.now();
  // Offsets are committed every 500 messages and when the consumer stops
  // (the broker syncs each commit to disk: commit per batch, not per message).
  await consumer.run({
    autoCommit: true,
    autoCommitThreshold: 500,
    eachMessage: async ({ message }) => {
      got.push(message.value.toString());
      last = Date.now();
    },
  });
  const started = Date.now();
  while (got.length < want && Date.now() - last < idleMs && Date.now() - started < 60000) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await consumer.disconnect();
  return got;
}

(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
  await admin.disconnect();

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < count; i++) messages.push({ key: String(i % 7), value: `kafkajs-${i}` });
  for (let i = 0; i < messages.length; i += 500) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
  }
  const values = await consume(count, 10000);

  const late = [];
  for (let i = 0; i < 10; i++) late.push({ value: `kafkajs-late-${i}` });
  await producer.send({ topic, acks: -1, messages: late });
  await producer.disconnect();
  const later = await consume(10, 8000);

  const expected = [...Array(count).keys()].map((i) => `kafkajs-${i}`).sort();
  console.log(
    JSON.stringify({
      client: "kafkajs " + require("kafkajs/package.json").version,
      failed: [],
      consumed: values.length,
      distinct: new Set(values).size,
      expected: JSON.stringify([...values].sort()) === JSON.stringify(expected),
      after_commit: later.sort(),
    }),
  );
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
