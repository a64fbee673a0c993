"""Looking inside a classifier's latent space: similar images, what to label next, saliency, subtypes."""
