"""A trained network in one file: `checkpoint.pt`, a `torch.save` of

    format          "enasim-train-checkpoint"
    version         1
    network_yaml    the network in enasim's workload YAML (`network_to_yaml`), so that the
                    file alone rebuilds it (FLASH samples and sub-nets have no file of their own)
    network_sha256  SHA-256 of that text: the network's identity
    state_dict      the module's parameters and batch-norm buffers (`NetworkModule`)
    metadata        dataset, classes, fitting, seed, accuracy, per-epoch loss, settings

It holds only tensors, strings, numbers, lists and dicts, so it is read with
`torch.load(weights_only=True)`, which runs no pickled code.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from enasim.errors import ConfigError
from enasim.fileio import atomic_write
from enasim.train.data import Dataset
from enasim.train.module import NetworkModule, export_weights
from enasim.train.trainer import TrainResult
from enasim.workload.ir import Network
from enasim.workload.yaml_format import load_network_yaml, network_to_yaml

FORMAT, VERSION = "enasim-train-checkpoint", 1


def network_hash(net: Network) -> str:
    """SHA-256 of the network's workload YAML: equal for networks of equal layers and name."""
    return hashlib.sha256(network_to_yaml(net).encode()).hexdigest()


def metadata(net: Network, result: TrainResult, dataset: Dataset) -> dict[str, Any]:
    """What a checkpoint and metrics.json record about a training run."""
    return {
        "network": net.name,
        "network_sha256": network_hash(net),
        "dataset": dataset.spec,
        "classes": dataset.classes,
        "train_images": len(dataset.y_train),
        "test_images": len(dataset.y_test),
        "fitting": dataset.fitting,
        "accuracy": result.accuracy,
        "train_loss": result.train_loss,
        "seconds": result.seconds,
        **result.settings,
    }


def save_checkpoint(path: str | Path, net: Network, result: TrainResult, dataset: Dataset) -> None:
    """Write the checkpoint of a training run atomically (temp file + rename)."""
    text = network_to_yaml(net)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "network_yaml": text,
        "network_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "state_dict": result.module.state_dict(),
        "metadata": metadata(net, result, dataset),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write(path, buf.getvalue())


def load_module(
    path: str | Path, net: Network | None = None
) -> tuple[Network, NetworkModule, dict[str, Any]]:
    """(network, trained module in eval mode, metadata) of a checkpoint; with `net`, the
    checkpoint must be of that network (else ConfigError naming both)."""
    src = str(path)
    data = torch_load(path, "a checkpoint enasim train wrote")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(
            src, "format", f"not a checkpoint enasim train wrote (expected format '{FORMAT}')"
        )
    if data.get("version") != VERSION:
        raise ConfigError(src, "version", f"expected {VERSION}, got {data.get('version')!r}")
    text, digest = data.get("network_yaml"), data.get("network_sha256")
    if not isinstance(text, str) or hashlib.sha256(text.encode()).hexdigest() != digest:
        raise ConfigError(
            src, "network_sha256", "does not match network_yaml (the file is damaged)"
        )
    trained = _network(text, src)
    if net is not None and network_hash(net) != digest:
        raise ConfigError(
            src,
            "network",
            f"trained for network '{trained.name}' (sha256 "
            f"{digest[:12]}), not for '{net.name}' (sha256 "
            f"{network_hash(net)[:12]})",
        )
    module = NetworkModule(trained)
    load_state(module, data.get("state_dict"), src, "the network")
    return trained, module, dict(data.get("metadata") or {})


def torch_load(path: str | Path, what: str) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU; an unreadable file is a one-line
    ConfigError saying it is not `what`."""
    src = str(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(src, "", "no such file") from None
    except IsADirectoryError:
        raise ConfigError(src, "", f"is a directory, expected {what}") from None
    except OSError as exc:
        raise ConfigError(src, "", f"cannot read file: {exc.strerror or exc}") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise ConfigError(
            src,
            "",
            f"not {what} (torch.load with weights_only=True cannot read it: {type(exc).__name__})",
        ) from None


def load_state(module: torch.nn.Module, state: Any, src: str, what: str) -> None:
    """Load a checkpoint's `state` into `module` (strict) and put it in eval mode; a state that
    does not fit is a one-line ConfigError saying it does not fit `what`."""
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ConfigError(
            src, "state_dict", f"does not fit {what}: {str(exc).splitlines()[0][:160]}"
        ) from None
    module.eval()


def load_checkpoint(
    path: str | Path, net: Network | None = None
) -> tuple[Network, dict[str, np.ndarray], dict[str, Any]]:
    """(network, float weights by layer name in PyTorch layout (`export_weights`), metadata) of
    a checkpoint; with `net`, the checkpoint must be of that network."""
    trained, module, meta = load_module(path, net)
    return trained, export_weights(module), meta


def _network(text: str, source: str) -> Network:
    """The network of a checkpoint's YAML text; errors name the checkpoint."""
    with tempfile.TemporaryDirectory(prefix="enasim-checkpoint-") as tmp:
        yaml_path = Path(tmp) / "network.yaml"
        yaml_path.write_text(text)
        try:
            return load_network_yaml(yaml_path)
        except ConfigError as exc:
            raise ConfigError(source, f"network_yaml: {exc.field}", exc.message) from None
