"""What a model is made of: Modelfiles, creating models from them, and the shipped personas."""
