"""Sans-IO Kafka protocol: bytes in, typed messages out.

Owns framing (``framing``), request decoding and cold-path response encoding on kio types
(``codec``), the one reading of kio's schemas they share (``schema_plan``), the check of every
declared length and null before kio reads a request (``lengths``), the hand-written hot
encoders (``produce_response``, ``fetch_response``), the RecordBatch header view and CRC-32C
check (``batch``), the internal logs' records (``records``), compressed-size bounds
(``compression``), unsigned varints (``varint``) and Kafka's error codes (``errors``).
No sockets, files or asyncio here; imports only the standard library, kio and crc32c.
"""
