"""kerazoo's transfer-learning toolkit: data, frozen features, linear probes and strategy advice.

What exists:

- `transfer.data`: datasets from folders, CSV/DataFrames, arrays and TFDS, bad-file handling,
  splits and the tf.data pipeline; `transfer.datasets`: small real datasets that work offline.
- `transfer.augment`: augmentation layers and presets; `transfer.normalization`: fitted
  zero-centering, normalisation and whitening; `transfer.crops`: test-time crops and the weights'
  evaluation resize.
- `transfer.backbone`: the network arguments below, resolved (`resolve_backbone`).
- `transfer.features`: `FeatureExtractor`, with its disk cache; `transfer.probes`: `LinearProbe`,
  `probe_layers` and `plot_layer_accuracy`; `transfer.export`: a probe on its network as one
  Keras model; `transfer.advisor`: `recommend`, the strategy, layers and learning rate to use.
- `transfer.cli`: the ``kerazoo`` console script.

The convention every public function here follows (and every one added later):

1. **The network is ``model``, the first argument**: a zoo model name (``"efficientnet_lite0"``,
   the default wherever there is one) or a `keras.Model` taking pixels in [0, 255].
2. **``weights="imagenet"``** is the default: this is a transfer toolkit. None means random
   weights, a path a weights file. A `keras.Model` carries its own weights (leave the default).
3. **``image_size=None`` is the weights' training resolution** (224 for EfficientNet-Lite0's
   ImageNet weights; the registered default size without weights; a `keras.Model`'s fixed input
   size). Every image -- arrays, tf.data, `transfer.data.ImageDataset` -- is resized to it inside
   the network's graph (``keras.layers.Resizing``, bilinear, antialiased), the graph an exported
   model keeps; an explicit ``image_size`` (an int or ``(height, width)``) overrides it. Small
   images are never fed to a 224-trained network at 28x28.
4. **``layers``**: a layer name or a list of them; None is the deepest registered feature tap;
   ``"taps"`` is every tap, shallow to deep (`transfer.probes.probe_layers`' explicit default).
5. **``preprocessing="auto"``** is the registered weights set's, for a tag and for a weights file
   of that set alike (matched by its published hash): nothing differs silently between a tag and
   a path. A file of no registered set needs an explicit ``preprocessing=``
   (a `zoo.preprocessing.Preprocessing`, or None for raw pixels).
6. **Errors**: a bad value raises ValueError, a wrong type TypeError, a missing optional
   dependency one ImportError that names the extra to install (``pip install "kerazoo[tfds]"``).
   Names are spelt one way across zoo/ and transfer/: poolings ``"avg"``, ``"max"`` (plus
   ``"gem"``, ``"rmac"`` for features), interpolations `zoo.preprocessing.INTERPOLATIONS`.
7. Options are keyword-only after the first one to three positional arguments (``model`` and
   the data); estimators follow scikit-learn's contract (``__init__`` stores, ``fit`` returns
   self, fitted state ends in ``_``).

Example:
    >>> import transfer
    >>> transfer.recommend(images_per_class=50, similar_to_imagenet=False).strategy
    'svm_earlier_layer'
"""

from transfer.advisor import Recommendation, recommend
from transfer.backbone import Backbone, resolve_backbone
from transfer.export import export_probe
from transfer.features import FeatureExtractor
from transfer.probes import LinearProbe, plot_layer_accuracy, probe_layers

__all__ = [
    "Backbone",
    "FeatureExtractor",
    "LinearProbe",
    "Recommendation",
    "export_probe",
    "plot_layer_accuracy",
    "probe_layers",
    "recommend",
    "resolve_backbone",
]
