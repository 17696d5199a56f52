"""SegmentationCore: the GafferSegmentation engine.

Plain Python + numpy + ONNX Runtime. Never imports torch or Gaffer.
Automatic, temporally consistent instance mattes for VFX plates:
GroundingDINO detection -> SAM2 per-frame masks with overlap clean-up ->
SAM2 video tracking through a mask cache, forward then backward.
"""

__version__ = "0.1.0"
