"""ElectLeaders (43) from an admin client: a preferred or unclean leader election.

As Kafka 4's brokers do, a broker hands it to the controller (``context.controller``: the
single node's own, or the active controller of a cluster, forwarded) and answers per
partition: ELECTION_NOT_NEEDED where the preferred replica leads already (PREFERRED) or a
leader exists (UNCLEAN), PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE
where no replica may take over, UNKNOWN_TOPIC_OR_PARTITION where there is no such partition.
v0 has no ``election_type`` (preferred); asked for every partition (``topic_partitions``
null), only those that needed an election are answered. The wire helpers here are shared with
the CONTROLLER listener's handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from broker.controller.elections import ElectionAnswer, ElectionType
from broker.metadata.topics import TopicError
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


def asked_partitions(body: Any) -> list[tuple[str, int]] | None:
    """The (topic, partition) pairs a request names; None: every partition."""
    if body.topic_partitions is None:
        return None
    return [(t.topic, index) for t in body.topic_partitions for index in t.partitions]


def election_type_of(body: Any) -> ElectionType:
    """The request's election type (v0: preferred). Raises ValueError for an unknown one."""
    return ElectionType(getattr(body, "election_type", ElectionType.PREFERRED))


def refused(asked: list[tuple[str, int]] | None, code: ErrorCode, message: str) -> dict:
    """The whole request refused: the top-level error, and each partition asked for."""
    answers = [ElectionAnswer(topic, index, code, message) for topic, index in asked or []]
    return {
        "throttle_time": 0,
        "error_code": code,
        "replica_election_results": results_by_topic(answers),
    }


def answered(answers: list[ElectionAnswer]) -> dict:
    return {
        "throttle_time": 0,
        "error_code": ErrorCode.none,
        "replica_election_results": results_by_topic(answers),
    }


def results_by_topic(answers: list[ElectionAnswer]) -> list[dict]:
    topics: dict[str, list[dict]] = {}
    for answer in answers:
        topics.setdefault(answer.topic, []).append(
            {
                "partition_id": answer.partition,
                "error_code": answer.error_code,
                "error_message": answer.message,
            }
        )
    return [{"topic": topic, "partition_result": results} for topic, results in topics.items()]


async def elect_leaders(context: Context, request: Request) -> dict:
    body = request.body
    asked = asked_partitions(body)
    try:
        election_type = election_type_of(body)
    except ValueError:
        return refused(asked, ErrorCode.invalid_request, "Unknown election type.")
    try:
        answers = await context.controller.elect_leaders(election_type, asked)
    except TopicError as error:  # no controller answered in time
        return refused(asked, error.code, str(error))
    return answered(answers)


SPECS = [ApiSpec(43, "ElectLeaders", 0, 2, elect_leaders)]
