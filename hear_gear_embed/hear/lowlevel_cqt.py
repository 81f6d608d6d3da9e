"""HEAR 2021 module for variant ``lowlevel_cqt`` (see ``hear_gear_embed.get_variant("lowlevel_cqt")``)."""
from hear_gear_embed.hear._api import hear_functions

load_model, get_scene_embeddings, get_timestamp_embeddings = hear_functions("lowlevel_cqt")
