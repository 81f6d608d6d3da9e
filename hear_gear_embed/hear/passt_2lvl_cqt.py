"""HEAR 2021 module for variant ``passt_2lvl_cqt`` (see ``hear_gear_embed.get_variant("passt_2lvl_cqt")``)."""
from hear_gear_embed.hear._api import hear_functions

load_model, get_scene_embeddings, get_timestamp_embeddings = hear_functions("passt_2lvl_cqt")
