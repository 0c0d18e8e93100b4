"""`lit-vision export`: ONNX, torch.export (pt2) and timm local-dir exports of a config's model, each checked against
eager PyTorch on a real batch, with the preprocessing a served model needs written beside it."""
