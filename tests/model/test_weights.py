"""Records of the official checkpoints (:mod:`hear_gear_embed.model.weights`): the geometry each was trained with,
where it comes from, and which checksum is attested by whom."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hear_gear_embed import get_variant, list_variants
from hear_gear_embed.model.weights import PRETRAINED, RELEASES, PretrainedWeights, get_weights

SWA = "passt_s_swa_p16_128_ap476"


# name -> (STFT hop, patch stride, frames of the time encoding), as the names and the authors' release notes spell them.
GEOMETRY = {
    "passt_s_swa_p16_128_ap476": (320, 10, 998),
    "passt_s_kd_p16_128_ap486": (320, 10, 998),
    "passt_s_p16_s16_128_ap468": (320, 16, 998),
    "passt_s_swa_f128_stfthop160_p16_s10_ap473": (160, 10, 2000),
    "passt_s_swa_f128_stfthop100_p16_s10_ap473": (100, 10, 3200),
    "passt_s_f128_20sec_p16_s10_ap474_swa": (320, 10, 2000),
    "passt_s_f128_30sec_p16_s10_ap473_swa": (320, 10, 3000),
}


def test_records_carry_the_geometry_they_were_trained_with() -> None:
    assert list(PRETRAINED) == list(GEOMETRY)
    for name, (hop, stride, frames) in GEOMETRY.items():
        weights = PRETRAINED[name]
        assert weights.name == name and weights.url.startswith(RELEASES + "/")
        assert weights.filename == weights.url.rsplit("/", 1)[-1] and weights.filename.endswith(".pt")
        assert weights.description and weights.licence.startswith("Apache-2.0")
        assert weights.frontend.hop_length == hop and weights.net.max_frames == frames, name
        assert (weights.net.freq_stride, weights.net.time_stride) == (stride, stride), name
        assert (weights.net.embed_dim, weights.net.depth, weights.net.num_classes) == (768, 12, 527)


def test_variants_take_frontend_and_network_from_their_record() -> None:
    for name in list_variants():
        variant = get_variant(name)
        if variant.weights is not None:
            assert variant.weights is PRETRAINED[variant.weights.name]
            assert (variant.frontend, variant.net) == (variant.weights.frontend, variant.weights.net), name
    assert get_variant("passt_lm2rf_hop5").weights.frontend.hop_length == 160
    assert get_variant("passt_cqt").weights is None and get_variant("handcrafted").weights is None


def test_only_the_third_party_attested_hash_is_set() -> None:
    attested = {name: w for name, w in PRETRAINED.items() if w.sha256 is not None}
    assert list(attested) == [SWA]
    weights = attested[SWA]
    assert re.fullmatch(r"[0-9a-f]{64}", weights.sha256)
    assert weights.sha256_source.startswith("third party") and "authors publish no checksum" in weights.sha256_source
    assert all(w.sha256_source == "" for name, w in PRETRAINED.items() if name != SWA)


@pytest.mark.parametrize(("changes", "message"), [
    ({"sha256": "ABC"}, "64 lowercase hex digits"),
    ({"sha256": "F" * 64}, "64 lowercase hex digits"),
    ({"sha256": "g" * 64}, "64 lowercase hex digits"),
    ({"sha256": "0" * 64, "sha256_source": ""}, "a sha256 needs its source"),
    ({"sha256": None, "sha256_source": "someone"}, "a source needs a sha256"),
])
def test_checksum_format_and_source_are_checked(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(get_weights(SWA), **changes)
    assert isinstance(dataclasses.replace(get_weights(SWA), sha256="0" * 64), PretrainedWeights)


def test_unknown_name_suggests_the_closest() -> None:
    assert get_weights(SWA) is PRETRAINED[SWA]
    with pytest.raises(KeyError, match="unknown checkpoint 'passt_s_swa_p16_128_ap47'; did you mean passt_s_swa_p16_128_ap476"):
        get_weights("passt_s_swa_p16_128_ap47")
