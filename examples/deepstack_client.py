"""A DeepStack client, as Blue Iris, Agent DVR or Home Assistant would call this server.

    python examples/deepstack_client.py http://127.0.0.1:8080 photo.jpg [min_confidence]

Any DeepStack / CodeProject.AI client works the same way: point it at this server's address.
"""

from __future__ import annotations

import sys

import requests


def detect(server: str, image_path: str, min_confidence: float = 0.4) -> list[dict]:
    """POST the image to /v1/vision/detection; returns the predictions (integer pixel boxes)."""
    with open(image_path, "rb") as image:
        response = requests.post(
            f"{server}/v1/vision/detection",
            files={"image": image},
            data={"min_confidence": str(min_confidence)},
            timeout=30,
        )
    answer = response.json()
    if not answer["success"]:
        raise RuntimeError(f"{answer['code']}: {answer['error']}")
    return answer["predictions"]


if __name__ == "__main__":
    confidence = float(sys.argv[3]) if len(sys.argv) > 3 else 0.4
    for p in detect(sys.argv[1], sys.argv[2], confidence):
        print(
            f"{p['label']:>12} {p['confidence']:.2f}  ({p['x_min']}, {p['y_min']}) - "
            f"({p['x_max']}, {p['y_max']})"
        )
