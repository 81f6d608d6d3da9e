"""HEAR 2021 module for variant ``handcrafted`` (see ``hear_gear_embed.get_variant("handcrafted")``)."""
from hear_gear_embed.hear._api import hear_functions

load_model, get_scene_embeddings, get_timestamp_embeddings = hear_functions("handcrafted")
