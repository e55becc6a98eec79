"""World models learned from video: data, models, training and evaluation."""
