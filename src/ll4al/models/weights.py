"""A target network's weights from a checkpoint (``model.weights``), checked key by key."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from ll4al.config import ConfigError

#: The classifier head of the registered classifiers: a checkpoint may lack it or hold one
#: for another number of classes; the network then keeps its own freshly initialised head.
HEAD_PREFIX = "fc."


def is_head(key: str) -> bool:
    return key.startswith(HEAD_PREFIX)


def backbone_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The network's ``state_dict`` without the classifier head, as ``ll4al pretrain`` saves
    it (a head trained on nothing would only replace each round's own random one). On the
    CPU, so a checkpoint pretrained on a GPU loads with a plain ``torch.load`` anywhere."""
    return {k: v.cpu() for k, v in network.state_dict().items() if not is_head(k)}


def _names(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_weights(network: nn.Module, path: str | Path) -> None:
    """Load the checkpoint at ``path`` (a ``state_dict``) into ``network``, strictly.

    Every parameter and buffer of the network must be in the checkpoint with the same shape,
    and the checkpoint must hold nothing the network lacks, except the classifier head
    (``fc.*``): a pretrained backbone without a head (what ``ll4al pretrain`` writes) is the
    normal case, and a head for another number of classes is skipped; either way the network
    keeps its own freshly initialised head. Anything else that does not fit is a one-line
    ``ConfigError`` naming the parameter (and, for a shape, both shapes).
    """
    path = Path(path).expanduser()
    where = f"model.weights {str(path)!r}"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        message = " ".join(str(err).split())[:200]
        raise ConfigError(f"{where} is not a PyTorch checkpoint ({message})") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ConfigError(f"{where} is not a state_dict (parameter names to tensors)")
    own = network.state_dict()
    model = type(network).__name__
    for key, value in own.items():
        if key in state and state[key].shape != value.shape and not is_head(key):
            raise ConfigError(
                f"{where}: parameter {key!r} has shape {tuple(state[key].shape)} in the "
                f"checkpoint but {tuple(value.shape)} in the {model} of this config "
                "(another model.name or model.width?)"
            )
    missing = [k for k in own if k not in state and not is_head(k)]
    if missing:
        raise ConfigError(
            f"{where} lacks {len(missing)} parameter(s) of the {model}: {_names(missing)}"
        )
    unexpected = [k for k in state if k not in own and not is_head(k)]
    if unexpected:
        raise ConfigError(
            f"{where} holds {len(unexpected)} parameter(s) the {model} lacks: {_names(unexpected)}"
        )
    fitting = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    network.load_state_dict(fitting, strict=False)
