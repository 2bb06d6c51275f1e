"""kerazoo's transfer-learning toolkit: data, features, fine-tuning, imbalance and ensembles.

- `transfer.data`: datasets from folders, CSV/DataFrames, arrays and TFDS; bad-file handling;
  splits and the tf.data pipeline. `transfer.datasets`: small real datasets that work offline.
- `transfer.augment`: augmentation layers and presets; `transfer.preprocess`: fitted
  normalisation/whitening and test-time crops.
- `transfer.features`: `FeatureExtractor` with its disk cache; `transfer.probes`: `LinearProbe`;
  `transfer.export`: a probe on its backbone as one Keras model.
- `transfer.recommend` (`transfer.advisor`): which strategy, layers and learning rate to use.
- `transfer.cli`: the ``kerazoo`` console script.

Example:
    >>> import transfer
    >>> transfer.recommend(images_per_class=50, similar_to_imagenet=False).strategy
    'svm_earlier_layer'
"""

from transfer.advisor import Recommendation, plot_layer_accuracy, probe_layers, recommend

__all__ = ["Recommendation", "plot_layer_accuracy", "probe_layers", "recommend"]
