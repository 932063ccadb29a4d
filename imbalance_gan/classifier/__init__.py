"""The classifier: its LightningModule, its metrics, and one classify run (the pipeline)."""
