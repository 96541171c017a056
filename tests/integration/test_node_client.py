"""The outbound node client (``broker.net.client``) against a real broker subprocess."""

from __future__ import annotations

import asyncio
import socket

import pytest
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12.request import MetadataRequest

from broker.net.client import ClientError, KafkaClient, NodeClients


def _api_versions() -> ApiVersionsRequest:
    return ApiVersionsRequest(client_software_name="test", client_software_version="1")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_requests_are_answered_and_pipelined(broker) -> None:
    async def run() -> list:
        client = KafkaClient("127.0.0.1", broker.port)
        try:
            metadata = MetadataRequest(
                topics=None,
                allow_auto_topic_creation=False,
                include_topic_authorized_operations=False,
            )
            return await asyncio.gather(
                client.request(_api_versions()),
                *(client.request(metadata) for _ in range(20)),
            )
        finally:
            await client.close()

    versions, *answers = asyncio.run(run())
    assert versions.error_code == ErrorCode.none
    assert any(key.api_key == 1 for key in versions.api_keys)  # Fetch is served
    assert len(answers) == 20
    assert all(answer.brokers[0].port == broker.port for answer in answers)


def test_unreachable_node_is_a_client_error() -> None:
    async def run() -> None:
        client = KafkaClient("127.0.0.1", _free_port())
        try:
            await client.request(_api_versions(), timeout_s=5)
        finally:
            await client.close()

    with pytest.raises(ClientError, match="cannot connect"):
        asyncio.run(run())


def test_a_restarted_node_is_reached_again(broker) -> None:
    async def run() -> tuple[int, type[BaseException], int]:
        clients = NodeClients({7: ("127.0.0.1", broker.port)})
        try:
            first = await clients.get(7).request(_api_versions())
            broker.kill()
            with pytest.raises(ClientError) as failed:
                await clients.get(7).request(_api_versions(), timeout_s=5)
            broker.restart(clean=False)
            again = await clients.get(7).request(_api_versions())
            return first.error_code, failed.type, again.error_code
        finally:
            await clients.close()

    first, failed, again = asyncio.run(run())
    assert first == again == ErrorCode.none
    assert failed is ClientError


def test_unknown_node_is_a_client_error() -> None:
    with pytest.raises(ClientError, match="no known address for node 3"):
        NodeClients({}).get(3)
