"""Pure detection library: image bytes in, Detections out.

May import: numpy, Pillow, onnxruntime and the standard library; never Flask, Werkzeug, boto3
or serverless-wsgi (the HTTP, event and CLI layers import it, never the other way round).
"""

from .detections import Detections
from .errors import (
    ConfigError,
    DetectionError,
    InvalidImage,
    InvalidRequest,
    ModelError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from .model import Model, ModelInfo, load_model
from .pipeline import DetectionResult, detect_array, detect_bytes
from .postprocess import DetectOptions
from .slicing import SlicingOptions, SlicingSummary

__all__ = [
    "ConfigError",
    "DetectOptions",
    "DetectionError",
    "DetectionResult",
    "Detections",
    "InvalidImage",
    "InvalidRequest",
    "Model",
    "ModelError",
    "ModelInfo",
    "PayloadTooLarge",
    "SlicingOptions",
    "SlicingSummary",
    "UnsupportedMediaType",
    "detect_array",
    "detect_bytes",
    "load_model",
]
