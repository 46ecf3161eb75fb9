"""Fine-tuning a YOLOX-layout ONNX model on labelled images (`small-object-detect train`).

The only package that imports torch. Nothing else in app/ imports it: the server, the Lambda
image and every other command run without torch (it comes from requirements-train.txt).
"""
