"""Transactional producers of four real clients are refused at once, not left to time out.

The broker has no transactions yet, so it answers a transaction coordinator lookup with
TRANSACTIONAL_ID_AUTHORIZATION_FAILED, the answer each client's source treats as final (see
broker/net/handlers/find_coordinator.py). Each client is given a long timeout of its own; the
test asserts the refusal, not the timeout, is what ends the attempt.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.compat

CLIENT_TIMEOUT_S = 30
JS_DIR = Path(__file__).parent / "js"


def test_confluent_kafka_init_transactions_fails_fatally_saying_why(shared_broker):
    from confluent_kafka import KafkaError, KafkaException, Producer

    producer = Producer(
        {"bootstrap.servers": shared_broker.bootstrap, "transactional.id": "tx-rdkafka"}
    )
    with pytest.raises(KafkaException) as refused:
        producer.init_transactions(CLIENT_TIMEOUT_S)
    error = refused.value.args[0]
    assert error.code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert error.fatal()
    assert "transactions are not supported by this broker" in error.str()


def test_kafka_python_init_transactions_fails_fatally(shared_broker):
    from kafka import KafkaProducer
    from kafka.errors import TransactionalIdAuthorizationFailedError

    producer = KafkaProducer(
        bootstrap_servers=shared_broker.bootstrap,
        transactional_id="tx-kafka-python",
        max_block_ms=CLIENT_TIMEOUT_S * 1000,
    )
    try:
        with pytest.raises(TransactionalIdAuthorizationFailedError):
            producer.init_transactions()
    finally:
        producer.close(timeout=5)


def test_aiokafka_transactional_start_fails(shared_broker):
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import TransactionalIdAuthorizationFailed

    async def start() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=shared_broker.bootstrap, transactional_id="tx-aiokafka"
        )
        try:
            # aiokafka itself would retry a retriable answer forever; bound it here.
            await asyncio.wait_for(producer.start(), CLIENT_TIMEOUT_S)
        finally:
            await producer.stop()

    with pytest.raises(TransactionalIdAuthorizationFailed, match="tx-aiokafka"):
        asyncio.run(start())


def test_kafkajs_transactional_producer_fails_without_retrying(shared_broker):
    """kafkajs hides the lookup's error behind 'Failed to find group coordinator'; a final
    answer makes it give up after one lookup instead of retrying with back-off."""
    if shutil.which("node") is None or not (JS_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.fail("kafkajs is not installed: run `make tools` (needs node and npm)")
    done = subprocess.run(
        ["node", str(JS_DIR / "transactional_producer.js"), shared_broker.bootstrap, "tx-kafkajs"],
        capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S * 4, check=True,
    )  # fmt: skip
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {
        "ok": False,
        "name": "KafkaJSGroupCoordinatorNotFound",
        "message": "Failed to find group coordinator",
        "lookups": 1,
    }
