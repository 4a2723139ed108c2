"""Frozen pretrained encoders (offline MiniLM / EfficientNet-Lite0, paper BERT / ResNet) and the feature cache."""
