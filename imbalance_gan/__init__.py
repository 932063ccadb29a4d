"""imbalance-gan: does synthetic data from a GAN help a classifier on a rare class?"""

__version__ = "0.1.0"
