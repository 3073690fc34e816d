"""The fixture systems around one eval service, rebuilt for every scenario run."""

from evals.world.world import Prepared, World, WorldState

__all__ = ["Prepared", "World", "WorldState"]
