"""HEAR 2021 entry points: one module per published variant, e.g. ``hear_gear_embed.hear.passt_base``."""

from ._api import get_scene_embeddings, get_timestamp_embeddings, hear_functions, load_model

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "hear_functions", "load_model"]
