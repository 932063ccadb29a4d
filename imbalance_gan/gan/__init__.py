"""GANs: the LightningModule, losses, selection, quality metrics, the cache and the pipeline."""
