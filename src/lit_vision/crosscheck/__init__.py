"""`lit-vision crosscheck`: our networks against their reference twins (timm, torch.nn.Transformer, PyTorch's complex
convolution) with the same weights."""
