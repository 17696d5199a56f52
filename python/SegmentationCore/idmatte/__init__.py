"""ID-matte files: OpenEXR Deep IDs ("ObjectId") and Cryptomatte, written and
read without Nuke or Gaffer.

- ``output``: ``write_frame`` writes both formats of one frame;
- ``objectid`` / ``cryptomatte``: each format's writer and reader;
- ``mattefilter``: pick mattes by layer name, ancestor path or glob
  (``extract_matte``);
- ``idsamples``, ``murmur``: per-pixel samples and the name hashes;
- ``exr_header``, ``exr_zip``, ``deep_exr``, ``flat_exr``: our EXR encoder.

>>> from SegmentationCore.idmatte import extract_matte
>>> alpha = extract_matte("mattes/sh010.objectid.1001.exr", "/person")  # doctest: +SKIP
"""

from .cryptomatte import NUKE_MAX_RANK_SETS, rank_sets_warning, read_cryptomatte, required_rank_sets, write_cryptomatte
from .exr_header import ImageWindows
from .mattefilter import extract_matte, layer_names, read_layers
from .objectid import read_objectid, write_objectid
from .output import FORMATS, frame_path, sequence_pattern, write_frame

__all__ = [
    "FORMATS",
    "NUKE_MAX_RANK_SETS",
    "ImageWindows",
    "extract_matte",
    "frame_path",
    "layer_names",
    "read_cryptomatte",
    "read_layers",
    "rank_sets_warning",
    "read_objectid",
    "required_rank_sets",
    "sequence_pattern",
    "write_cryptomatte",
    "write_frame",
    "write_objectid",
]
