"""Writing one frame in both formats under the recommended names."""

import numpy as np
import pytest

from idmatte_layers import expected_alpha, overlapping_layers
from SegmentationCore.core import errors
from SegmentationCore.idmatte import output as idmatte_output, mattefilter


def test_frame_paths():
    assert idmatte_output.frame_path("/s/sh010", "objectid", 1001) == "/s/sh010.objectid.1001.exr"
    assert idmatte_output.frame_path("/s/sh010", "crypto", 7) == "/s/sh010.crypto.0007.exr"
    assert idmatte_output.frame_path("sh", "crypto", -3) == "sh.crypto.-0003.exr"
    assert idmatte_output.sequence_pattern("/s/sh010", "crypto") == "/s/sh010.crypto.####.exr"
    with pytest.raises(ValueError):
        idmatte_output.frame_path("x", "deep", 1)


def test_write_frame_both_formats(tmp_path):
    layers = overlapping_layers(40, 60)
    paths = idmatte_output.write_frame(tmp_path / "sh010", 1001, layers, depth_order=list(layers)[::-1])
    assert paths == {
        "objectid": str(tmp_path / "sh010.objectid.1001.exr"),
        "crypto": str(tmp_path / "sh010.crypto.1001.exr"),
    }
    assert mattefilter.detect_format(paths["objectid"]) == "objectid"
    assert mattefilter.detect_format(paths["crypto"]) == "cryptomatte"
    for path in paths.values():
        np.testing.assert_allclose(mattefilter.extract_matte(path, "/person/person_0002"),
                                   expected_alpha(layers["/person/person_0002"]), atol=2.0 ** -12)


def test_write_frame_checks_every_target_first(tmp_path):
    existing = tmp_path / "sh010.crypto.0005.exr"
    existing.write_bytes(b"keep")
    with pytest.raises(errors.OutputError, match="crypto.0005"):
        idmatte_output.write_frame(tmp_path / "sh010", 5, overlapping_layers(10, 10))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sh010.crypto.0005.exr"]
    assert existing.read_bytes() == b"keep"
    only = idmatte_output.write_frame(tmp_path / "sh010", 5, overlapping_layers(10, 10), formats=["objectid"])
    assert list(only) == ["objectid"]
    with pytest.raises(errors.OutputError):
        idmatte_output.write_frame(tmp_path / "sh010", 6, {}, formats=["png"])
