"""Outside Kafka clients against sluice's embedded broker, for the tests in
tests/all/broker.rs: confluent-kafka (librdkafka) and kafka-python (a pure
Python implementation of the protocol). Each subcommand prints one JSON
object on its last line of stdout; the Rust test reads it.
"""

import argparse
import json
import os
import sys
import time


def emit(result):
    print(json.dumps(result), flush=True)


# --- confluent-kafka (librdkafka) ---------------------------------------


def confluent_admin(bootstrap):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap})


def confluent_create_topic(bootstrap, topic, partitions, configs=None):
    from confluent_kafka.admin import NewTopic

    admin = confluent_admin(bootstrap)
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=configs or {})]
    )
    for future in futures.values():
        future.result(timeout=30)


def confluent_producer(bootstrap, extra=None):
    from confluent_kafka import Producer

    config = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    }
    config.update(extra or {})
    return Producer(config)


def confluent_consumer(bootstrap, group, extra=None):
    from confluent_kafka import Consumer

    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    config.update(extra or {})
    return Consumer(config)


def confluent_drain(consumer, want, timeout):
    """Polls until `want` records arrived or nothing came for `timeout` s."""
    got = []
    quiet_since = time.time()
    while len(got) < want and time.time() - quiet_since < timeout:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            print(f"consumer error: {message.error()}", file=sys.stderr)
            continue
        got.append(message)
        quiet_since = time.time()
    return got


def confluent_roundtrip(args):
    topic = f"{args.topic}-confluent"
    confluent_create_topic(args.bootstrap, topic, 3)
    producer = confluent_producer(args.bootstrap)
    failed = []

    def delivered(error, _message):
        if error is not None:
            failed.append(str(error))

    for i in range(args.count):
        producer.produce(topic, key=str(i % 7), value=f"confluent-{i}", on_delivery=delivered)
        producer.poll(0)
    producer.flush(60)

    first = confluent_consumer(args.bootstrap, args.group)
    first.subscribe([topic])
    got = confluent_drain(first, args.count, 20)
    first.commit(asynchronous=False)
    first.close()

    # The same group again: it starts where the first member committed.
    for i in range(10):
        producer.produce(topic, value=f"confluent-late-{i}", on_delivery=delivered)
    producer.flush(60)
    second = confluent_consumer(args.bootstrap, args.group)
    second.subscribe([topic])
    later = confluent_drain(second, 10, 10)
    second.close()
    values = [m.value().decode() for m in got]
    emit(
        {
            "client": "confluent-kafka " + __import__("confluent_kafka").version()[0],
            "failed": failed,
            "consumed": len(values),
            "distinct": len(set(values)),
            "expected": sorted(values) == sorted(f"confluent-{i}" for i in range(args.count)),
            "after_commit": sorted(m.value().decode() for m in later),
        }
    )


# --- kafka-python (pure Python) -----------------------------------------


def kafka_python_roundtrip(args):
    import kafka
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"{args.topic}-kafka-python"
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
    admin.close()

    producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all", linger_ms=5)
    futures = [producer.send(topic, key=str(i % 7).encode(), value=f"kafka-python-{i}".encode()) for i in range(args.count)]
    producer.flush(60)
    failed = [str(f.exception) for f in futures if f.failed()]

    def consumer():
        return KafkaConsumer(
            topic,
            bootstrap_servers=args.bootstrap,
            group_id=args.group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
            consumer_timeout_ms=10000,
        )

    first = consumer()
    values = []
    for message in first:
        values.append(message.value.decode())
        if len(values) >= args.count:
            break
    first.commit()
    first.close()

    for i in range(10):
        producer.send(topic, value=f"kafka-python-late-{i}".encode())
    producer.flush(60)
    producer.close()
    second = consumer()
    later = []
    for message in second:
        later.append(message.value.decode())
        if len(later) >= 10:
            break
    second.close()
    emit(
        {
            "client": "kafka-python " + kafka.__version__,
            "failed": failed,
            "consumed": len(values),
            "distinct": len(set(values)),
            "expected": sorted(values) == sorted(f"kafka-python-{i}" for i in range(args.count)),
            "after_commit": sorted(later),
        }
    )


# --- scenarios for the broker's restarts, rebalances and limits ----------


def produce_acked(args):
    """Produces `count` numbered records as fast as it can and appends each
    acknowledged number to `--acked`, line by line, so a test that kills the
    broker midway knows what was acknowledged."""
    extra = {"message.timeout.ms": args.message_timeout_ms}
    if args.debug:
        extra["debug"] = args.debug
    producer = confluent_producer(args.bootstrap, extra)
    acked_file = open(args.acked, "a", buffering=1)
    state = {"acked": 0, "failed": 0, "errors": {}}

    def delivered(error, message):
        if error is None:
            acked_file.write(message.value().split(b" ", 1)[0].decode() + "\n")
            state["acked"] += 1
        else:
            state["failed"] += 1
            name = error.name()
            state["errors"][name] = state["errors"].get(name, 0) + 1

    from confluent_kafka import KafkaException

    started = time.time()
    for i in range(args.count):
        while True:
            try:
                producer.produce(args.topic, value=str(i).encode() + b" " + b"x" * args.pad, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
            except KafkaException as e:
                print(f"produce: {e}", file=sys.stderr)
                producer.poll(0.05)
        producer.poll(0)
        if args.rate and i % 100 == 0:
            ahead = i / args.rate - (time.time() - started)
            if ahead > 0:
                time.sleep(ahead)
    remaining = producer.flush(args.flush_timeout)
    acked_file.close()
    state["unfinished"] = remaining
    emit(state)


def consume_all(args):
    """Reads the whole topic from the beginning in a fresh group; prints the
    count of each record's number (the text before the first space)."""
    consumer = confluent_consumer(args.bootstrap, args.group, {"fetch.max.bytes": 52428800})
    consumer.subscribe([args.topic])
    counts = {}
    first_offsets = {}
    quiet_since = time.time()
    while time.time() - quiet_since < args.idle:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            print(f"consumer error: {message.error()}", file=sys.stderr)
            continue
        quiet_since = time.time()
        key = message.value().split(b" ", 1)[0].decode()
        counts[key] = counts.get(key, 0) + 1
        first_offsets.setdefault(str(message.partition()), message.offset())
    consumer.close()
    emit({"counts": counts, "first_offsets": first_offsets})


def member(args):
    """A group member that writes its assignment to `--status` whenever it
    changes, until killed."""
    consumer = confluent_consumer(args.bootstrap, args.group)

    def write(partitions):
        tmp = args.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(sorted(p.partition for p in partitions), f)
        os.replace(tmp, args.status)

    def on_assign(c, partitions):
        write(partitions)

    def on_revoke(c, partitions):
        write([])

    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)
    while True:
        consumer.poll(0.2)


def big_record(args):
    """A record of `--size` bytes in a topic whose max.message.bytes allows
    it, read back by a consumer with default fetch sizes (KIP-74)."""
    import hashlib

    topic = args.topic
    confluent_create_topic(args.bootstrap, topic, 1, {"max.message.bytes": str(args.size + 1024 * 1024)})
    payload = os.urandom(args.size)
    producer = confluent_producer(args.bootstrap, {"message.max.bytes": args.size + 1024 * 1024})
    errors = []
    producer.produce(topic, value=b"small-before", on_delivery=lambda e, m: e and errors.append(str(e)))
    producer.produce(topic, value=payload, on_delivery=lambda e, m: e and errors.append(str(e)))
    producer.produce(topic, value=b"small-after", on_delivery=lambda e, m: e and errors.append(str(e)))
    producer.flush(60)
    consumer = confluent_consumer(
        args.bootstrap, args.group, {"max.partition.fetch.bytes": 1048576, "fetch.max.bytes": 1048576}
    )
    consumer.subscribe([topic])
    got = confluent_drain(consumer, 3, 20)
    consumer.close()
    emit(
        {
            "errors": errors,
            "sizes": [len(m.value()) for m in got],
            "intact": any(hashlib.sha256(m.value()).digest() == hashlib.sha256(payload).digest() for m in got),
        }
    )


def create_topic(args):
    configs = dict(c.split("=", 1) for c in args.config)
    confluent_create_topic(args.bootstrap, args.topic, args.partitions, configs)
    emit({"created": args.topic})


def commit(args):
    """Commits `--offset` for every partition of the topic in `--group`, as
    a consumer that read that far and then went away would have."""
    from confluent_kafka import TopicPartition

    consumer = confluent_consumer(args.bootstrap, args.group)
    metadata = consumer.list_topics(args.topic, timeout=10)
    partitions = [TopicPartition(args.topic, p, args.offset) for p in metadata.topics[args.topic].partitions]
    consumer.commit(offsets=partitions, asynchronous=False)
    consumer.close()
    emit({"committed": len(partitions)})


def earliest(args):
    """The log start offset of each partition (ListOffsets, earliest)."""
    from confluent_kafka import TopicPartition

    consumer = confluent_consumer(args.bootstrap, args.group)
    metadata = consumer.list_topics(args.topic, timeout=10)
    out = {}
    for p in metadata.topics[args.topic].partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=10)
        out[str(p)] = [low, high]
    consumer.close()
    emit(out)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, fn):
        p = sub.add_parser(name)
        p.add_argument("--bootstrap", required=True)
        p.add_argument("--topic", required=True)
        p.add_argument("--group", default="tests")
        p.set_defaults(fn=fn)
        return p

    p = add("roundtrip", None)
    p.add_argument("--client", choices=["confluent", "kafka-python"], required=True)
    p.add_argument("--count", type=int, default=3000)
    p = add("produce-acked", produce_acked)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--acked", required=True)
    p.add_argument("--pad", type=int, default=100)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--message-timeout-ms", type=int, default=120000)
    p.add_argument("--flush-timeout", type=float, default=180)
    p.add_argument("--debug", default="")
    p = add("consume-all", consume_all)
    p.add_argument("--idle", type=float, default=8)
    p = add("member", member)
    p.add_argument("--status", required=True)
    p = add("big-record", big_record)
    p.add_argument("--size", type=int, default=10 * 1024 * 1024)
    p = add("create-topic", create_topic)
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--config", action="append", default=[])
    p = add("commit", commit)
    p.add_argument("--offset", type=int, default=0)
    add("earliest", earliest)

    args = parser.parse_args()
    if args.command == "roundtrip":
        {"confluent": confluent_roundtrip, "kafka-python": kafka_python_roundtrip}[args.client](args)
    else:
        args.fn(args)


if __name__ == "__main__":
    main()
