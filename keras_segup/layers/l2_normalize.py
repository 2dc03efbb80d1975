from keras import ops


def l2_normalize(x):
    """`x / max(||x||, 1e-12)` over the last axis, as in torch's `F.normalize`.

    Written as a product with `rsqrt`: TFLite's DIV kernel refused some
    all-zero feature vectors at run time.
    """
    squared = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, 1e-24))
