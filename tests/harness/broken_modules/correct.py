"""Control: a correct tiny HEAR module (:mod:`._base` as it is). Expected verdict: PASS, without warnings."""

from ._base import get_scene_embeddings, get_timestamp_embeddings, load_model

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]
