"""``python -m chirpstream.status_reader``: ``up``'s status figures read with librdkafka, for a
cluster that needs TLS or SASL (which the project's wire client does not speak), in a process
of its own so that a librdkafka crash takes down this reader and not ``up``
(``chirpstream.status.ChildReader`` starts another).

The first line of stdin is a JSON object of librdkafka settings, ``bootstrap.servers``
included; then each line read is answered with one JSON line on stdout: a sample (the fields
of ``chirpstream.status.Sample``) or ``{"error": "why there is none"}``. The metadata is asked
for first: librdkafka's admin client sends the offsets questions to the leaders it last heard
of, and kept asking a dead one.
"""

from __future__ import annotations

import json
import sys

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from chirpstream.logs import librdkafka_logging
from chirpstream.settings import ANALYTICS_GROUP, TWEETS_PARTITIONS, TWEETS_TOPIC
from chirpstream.status import ANSWER_TIMEOUT_S


class LibrdkafkaReader:
    def __init__(self, settings: dict[str, str]) -> None:
        self._admin = AdminClient(librdkafka_logging(settings))
        self._partitions = [TopicPartition(TWEETS_TOPIC, p) for p in range(TWEETS_PARTITIONS)]

    def sample(self) -> dict[str, object]:
        self._admin.poll(0)  # serves librdkafka's queued log lines (one per broker change)
        try:
            metadata = self._admin.list_topics(timeout=ANSWER_TIMEOUT_S)
            wanted = {tp: OffsetSpec.latest() for tp in self._partitions}
            futures = self._admin.list_offsets(wanted, request_timeout=ANSWER_TIMEOUT_S)
            highs = [future.result(ANSWER_TIMEOUT_S).offset for future in futures.values()]
            request = [ConsumerGroupTopicPartitions(ANALYTICS_GROUP, self._partitions)]
            result = self._admin.list_consumer_group_offsets(request)[ANALYTICS_GROUP].result(
                ANSWER_TIMEOUT_S
            )
        except KafkaException as exc:
            return {"error": f"the cluster is not answering ({exc.args[0].str()})"}
        except TimeoutError:
            return {"error": f"the cluster did not answer within {ANSWER_TIMEOUT_S:.0f} s"}
        if min(highs) < 0:  # -1: a partition whose leader just died answered no offset
            return {"error": f"waiting for the leaders of {TWEETS_TOPIC} to answer"}
        return {
            "high": sum(highs),
            "committed": sum(max(tp.offset, 0) for tp in result.topic_partitions),
            "brokers": len(metadata.brokers),
            "under_replicated": sum(
                len(partition.isrs) < len(partition.replicas)
                for topic in metadata.topics.values()
                for partition in topic.partitions.values()
            ),
        }


def main() -> int:
    reader = LibrdkafkaReader(json.loads(sys.stdin.readline()))
    for _ in sys.stdin:
        print(json.dumps(reader.sample()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
