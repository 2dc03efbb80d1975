"""Symbolic outputs of the decode heads, whose `return_aux` changes the output."""

import keras


def head_output_spec(head, inputs, return_aux):
    """KerasTensors for `head(inputs, return_aux=...)`.

    Args:
        head: a head with `compute_output_shape(shapes)` (the main logits)
            and `aux_output_shapes(shapes)`.
        inputs: the list of symbolic features.
        return_aux: whether the call also returns the auxiliary logits.

    Returns:
        A KerasTensor, or a list `[logits, *aux]`.
    """
    shapes = [tuple(x.shape) for x in inputs]
    logits = keras.KerasTensor(head.compute_output_shape(shapes), dtype=head.compute_dtype)
    if not return_aux:
        return logits
    aux = [
        keras.KerasTensor(shape, dtype=head.compute_dtype)
        for shape in head.aux_output_shapes(shapes)
    ]
    return [logits, *aux]
