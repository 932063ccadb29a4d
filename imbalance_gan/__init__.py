"""imbalance-gan: does synthetic data from a generator help a classifier on a rare class?"""

from imbalance_gan import resolvers as _resolvers
from imbalance_gan.runtime import schemas as _schemas

__version__ = "0.1.0"

_resolvers.register()
_schemas.register()
