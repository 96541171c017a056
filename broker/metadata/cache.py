"""The metadata a broker serves from: the latest image it applied, and a generation that
names it (answers computed from one image stay valid while the generation holds)."""

from __future__ import annotations

from broker.metadata.image import MetadataImage


class MetadataCache:
    def __init__(self, cluster_id: str, image: MetadataImage) -> None:
        self.cluster_id = cluster_id
        self.image = image
        self.generation = 0

    def apply(self, old: MetadataImage, new: MetadataImage) -> None:
        """Serve ``new`` from now on (a subscriber of the controller)."""
        self.image = new
        self.generation += 1
