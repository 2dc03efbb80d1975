"""Input checks shared by the layers: clear errors before any computation."""


def check_inputs(layer, input_shape, count, same_size=False):
    """Checks that a layer got `count` rank-4 (B, H, W, C) inputs.

    Args:
        layer: the layer (for the message).
        input_shape: a list of shapes.
        count: how many inputs the layer takes.
        same_size: whether all inputs must share height and width.

    Returns:
        The shapes as a list of tuples.
    """
    name = type(layer).__name__
    if (
        not isinstance(input_shape, (list, tuple))
        or len(input_shape) != count
        or not all(isinstance(s, (list, tuple)) for s in input_shape)
    ):
        raise ValueError(
            f"{name} takes a list of {count} tensors (batch, height, width, "
            f"channels); got input shape {input_shape}."
        )
    shapes = [check_feature_map(layer, s) for s in input_shape]
    if same_size:
        sizes = {s[1:3] for s in shapes if None not in s[1:3]}
        if len(sizes) > 1:
            raise ValueError(
                f"{name} inputs must have the same height and width; got "
                f"shapes {shapes}."
            )
    return shapes


def check_feature_map(layer, input_shape):
    """Checks that a layer got one (B, H, W, C) tensor with a known channel count.

    Returns:
        The shape as a tuple.
    """
    name = type(layer).__name__
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(
            f"{name} input must have rank 4 (batch, height, width, channels); "
            f"got shape {shape}."
        )
    if shape[-1] is None:
        raise ValueError(f"{name} needs a known channel count; got shape {shape}.")
    return shape


def check_num_classes(owner, num_classes):
    """Checks that `num_classes` is an int >= 1; `owner` names the class in the message."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"{owner}: `num_classes` must be an int >= 1; got {num_classes!r}.")
    return num_classes
