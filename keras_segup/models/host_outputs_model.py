"""A `keras.Model` whose `predict_on_batch` returns the outputs without Keras's extra copy."""

import keras
from keras import tree

from keras_segup.ops.dispatch import backend_module


class HostOutputs:
    """Mixin of a `keras.Model`: `predict_on_batch` hands back the backend's own host buffers.

    Keras's `predict_on_batch` copies every output into a new numpy array
    (`np.array(output)`), after any device-to-host transfer. For
    segmentation logits that copy is large: 19 classes at 1024x2048 are
    160 MB, 33-40 ms on 2 CPU cores, a sixth of FANet's head. This mixin
    returns the outputs without it:
    - torch: the CPU tensor's own memory (`tensor.numpy()`), writeable;
    - JAX and TensorFlow on CPU: a read-only view of the result's buffer
      (`np.array(logits)` makes a writeable copy when one is needed);
    - on a GPU, the one transfer to the host; bfloat16, ragged and sparse
      outputs as Keras converts them.

    The values are exactly Keras's. The conversion is each backend's
    `host_array` in `keras_segup.ops`. Every `keras_segup.models.Segmenter`
    has it; `HostOutputsModel` is the functional model with it.
    """

    def predict_on_batch(self, x):
        if keras.backend.backend() == "jax":
            outputs = self._jax_predict_on_batch(x)
        else:
            self.make_predict_function()
            outputs = self.predict_function([(x,)])
        return tree.map_structure(backend_module().host_array, outputs)

    def _jax_predict_on_batch(self, x):
        # Keras's JAX `predict_on_batch` (keras 3.15), without its final `np.array` copy
        if not all(layer.built for layer in self._flatten_layers()):
            with keras.StatelessScope():
                self(x)
        self.make_predict_function()
        state = self._get_jax_state(
            trainable_variables=True,
            non_trainable_variables=True,
            metrics_variables=False,
            purge_model_variables=False,
        )
        self._jax_state_synced = False
        outputs, (trainable, non_trainable) = self.predict_function(state, iter([(x,)]))
        self._jax_state = {"trainable_variables": trainable, "non_trainable_variables": non_trainable}
        self.jax_state_sync()
        return outputs


@keras.saving.register_keras_serializable(package="keras_segup")
class HostOutputsModel(HostOutputs, keras.Model):
    """A functional `keras.Model` whose `predict_on_batch` skips Keras's copy (`HostOutputs`).

    (A separate class from the segmenters' base: Keras gives a functional
    model's class `Functional` as a base class.)

    Example:
    >>> inputs = keras.Input((8, 8, 3))
    >>> model = HostOutputsModel(inputs, keras.layers.Conv2D(4, 1)(inputs))
    >>> model.predict_on_batch(np.ones((2, 8, 8, 3), "float32")).shape
    (2, 8, 8, 4)
    """
