"""Files: the model archive (JSON architecture + arrays, atomic, never pickled) and ONNX export."""
