"""The "annotated_image" of an answer (POST /detect or a job): its image with the boxes drawn."""

from __future__ import annotations

import base64
import time

from ..config import Settings
from ..detector import DetectionResult, Model
from ..detector.annotate import draw_detections, encode_jpeg
from ..detector.preprocess import decode_image


def add_annotated_image(
    body: dict, image_bytes: bytes, result: DetectionResult, model: Model, settings: Settings
) -> None:
    """Set body["annotated_image"] (base64 JPEG with result's boxes) and its timings_ms entry.

    The image is decoded again rather than kept from detection: the pipeline stays unchanged
    and only requests that ask for a picture pay for it.
    """
    started = time.perf_counter()
    image = decode_image(image_bytes, max_pixels=settings.max_image_pixels)
    drawn = draw_detections(image, result.detections, model.info.class_names)
    body["annotated_image"] = base64.b64encode(encode_jpeg(drawn)).decode("ascii")
    body["timings_ms"]["annotate"] = round((time.perf_counter() - started) * 1000, 2)
