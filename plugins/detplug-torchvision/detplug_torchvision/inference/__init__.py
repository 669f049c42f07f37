"""Inference on image files: the `detplug infer` command, prediction and drawing."""
