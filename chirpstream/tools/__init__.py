"""Kafka-style command-line verbs: ``topics``, ``produce``, ``consume`` and ``groups``.

They mirror kafka-topics.sh, kafka-console-producer.sh, kafka-console-consumer.sh and
kafka-consumer-groups.sh, flags and output, so what students learn here carries over to
Kafka's own tools. Each verb talks to the cluster only through confluent-kafka, so it works
the same against the bundled broker and a real (secured) cluster. A failure prints one
``error: ...`` line on stderr and exits 1. Each module has ``build_parser(parser)`` and
``main(args=...)``, as ``chirpstream.cli`` expects of every verb.
"""
